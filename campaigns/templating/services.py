"""Template writes: every accepted change of a template becomes a new, immutable version."""

from django.db import transaction

from campaigns.models import ContentBlock, EmailTemplate, TemplateVersion
from campaigns.templating.lint import Checked, block_check, template_check


def _blocks_available() -> dict[str, str]:
    return dict(ContentBlock.objects.values_list("name", "source"))


def template_validate(*, template: EmailTemplate) -> Checked:
    """Check a template's draft against the blocks that exist now (ValidationError if it fails)."""
    return template_check(
        kind=template.kind, subject=template.subject, preheader=template.preheader, html=template.html,
        text=template.text, source_format=template.source_format, blocks=_blocks_available(),
    )  # fmt: skip


def _same(version: TemplateVersion | None, template: EmailTemplate, checked: Checked) -> bool:
    if version is None:
        return False
    return (version.kind, version.subject, version.preheader, version.source_format, version.html_source,
            version.text_source, version.blocks) == (template.kind, template.subject, template.preheader,
            template.source_format, template.html, template.text, checked.blocks)  # fmt: skip


@transaction.atomic
def template_save(*, template: EmailTemplate, actor: str = "") -> TemplateVersion:
    """Save a template's draft; a change that passes validation becomes its next version
    (an unchanged draft keeps the current one). Nothing is saved if it fails."""
    checked = template_validate(template=template)
    template.save()
    current = template.current_version
    if _same(current, template, checked):
        return current
    last = TemplateVersion.objects.filter(template=template).order_by("-number").values_list("number", flat=True)
    version = TemplateVersion.objects.create(
        template=template, number=(last.first() or 0) + 1, kind=template.kind, subject=template.subject,
        preheader=template.preheader, source_format=template.source_format, html_source=template.html,
        text_source=template.text, html=checked.html, text=checked.text, blocks=checked.blocks, created_by=actor,
    )  # fmt: skip
    EmailTemplate.objects.filter(pk=template.pk).update(current_version=version)
    template.current_version = version
    return version


def block_validate(*, block: ContentBlock) -> None:
    """Check that a block's Liquid parses (ValidationError with its line and column)."""
    block_check(source=block.source)


def block_save(*, block: ContentBlock) -> ContentBlock:
    """Save a content block if its Liquid parses. Templates take the change in their next version."""
    block_validate(block=block)
    block.save()
    return block
