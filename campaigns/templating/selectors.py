"""Rendering: one template version for one recipient or many, previews for the admin.

A version is parsed once per process (`_compiled`), its static analysis says what data
it needs, and data.py reads that for a whole batch of recipients at once. Each part is
rendered in the sandbox; a recipient whose render fails gets an `error` and the others
go on.
"""

import functools
import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from liquid.template import BoundTemplate

from campaigns.models import ContentBlock, EmailTemplate, TemplateVersion
from campaigns.templating.data import Needs, Recipient, products_data, recipients_data, shop_data
from campaigns.templating.html import links_in, preheader_insert, text_blocks, text_tidy
from campaigns.templating.notes import Notes
from campaigns.templating.sandbox import RenderError, environment_for, render_bounded
from core.errors import Conflict, NotFound
from personalization.models import Customer, Segment
from personalization.segments.selectors import segment_members

PREVIEW_SAMPLE = 200


@dataclass(frozen=True)
class Compiled:
    subject: BoundTemplate
    preheader: BoundTemplate | None
    html: BoundTemplate
    text: BoundTemplate
    needs: Needs


def compiled_from(
    *, subject: str, preheader: str, html: str, text: str, blocks: dict[str, str], traced: bool = False
) -> Compiled:
    markup = environment_for(blocks=tuple(sorted(blocks.items())), html=True, traced=traced)
    plain = environment_for(blocks=text_blocks(blocks), html=False, traced=traced)
    parts = {
        "subject": plain.from_string(subject),
        "preheader": plain.from_string(preheader) if preheader else None,
        "html": markup.from_string(html),
        "text": plain.from_string(text),
    }
    paths = [
        variable.segments
        for template in parts.values()
        if template is not None
        for uses in template.analyze(include_partials=True).globals.values()
        for variable in uses
    ]
    return Compiled(**parts, needs=Needs.of(paths))


def _compiled(version: TemplateVersion, subject: str = "", traced: bool = False) -> Compiled:
    # A version never changes, so its parse is kept for the life of the process, by id and
    # creation time (SQLite gives a rolled-back row's id to the next row). `subject` replaces
    # the version's own (an experiment's variant of the subject line); `traced` parses it to
    # note its branches (previews).
    return _compiled_by_id(version.pk, version.created_at, subject, traced)


@functools.lru_cache(maxsize=64)
def _compiled_by_id(version_id: int, created_at: datetime, subject: str, traced: bool) -> Compiled:
    version = TemplateVersion.objects.get(pk=version_id, created_at=created_at)
    return compiled_from(
        subject=subject or version.subject, preheader=version.preheader, html=version.html, text=version.text,
        blocks=version.blocks, traced=traced,
    )  # fmt: skip


@dataclass
class RenderedEmail:
    customer_id: int | None
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    links: list[str] = field(default_factory=list)  # web links of the HTML, in order: the ones a send tracks
    personalized: bool = False  # False: consent withheld personalization, fallbacks showed
    notes: Notes = field(default_factory=Notes)
    error: str = ""


def _render_one(compiled: Compiled, recipient: Recipient, notes: Notes) -> RenderedEmail:
    data = recipient.data
    rendered = RenderedEmail(customer_id=recipient.customer.pk, personalized=recipient.personalized, notes=notes)
    try:
        rendered.subject = " ".join(render_bounded(compiled.subject, data, notes, part="subject").split())
        if compiled.preheader is not None:
            rendered.preheader = " ".join(render_bounded(compiled.preheader, data, notes, part="preheader").split())
        html = render_bounded(compiled.html, data, notes, part="html")
        rendered.html = preheader_insert(html, rendered.preheader)
        rendered.text = text_tidy(render_bounded(compiled.text, data, notes, part="text"))
    except RenderError as error:
        return RenderedEmail(rendered.customer_id, personalized=rendered.personalized, notes=notes, error=error.message)
    rendered.links = links_in(rendered.html)
    return rendered


@dataclass(frozen=True)
class RenderGroup:
    """Customers who get one version (a campaign's variant): its subject in place of the
    version's when given (Liquid, checked with `subject_check`), and the campaign it names."""

    version: TemplateVersion
    customers: Sequence[Customer]
    subject: str = ""
    campaign: dict | None = None


def templates_render(
    *,
    version: TemplateVersion,
    customers: Sequence[Customer],
    campaign: dict | None = None,
    links: dict[int, dict] | None = None,
    subject: str = "",
    trace: bool = False,
    now: datetime | None = None,
) -> list[RenderedEmail]:
    """Render a version for many customers, in their order: data read in bulk, parsed once.
    `links` adds per-customer links (a sent message's view in browser), `subject` replaces the
    version's subject, `trace` notes branches."""
    group = RenderGroup(version=version, customers=customers, subject=subject, campaign=campaign)
    [rendered] = _groups_render([group], links=links, trace=trace, now=now)
    return rendered


def templates_render_groups(
    *, groups: Sequence[RenderGroup], links: dict[int, dict] | None = None, now: datetime | None = None
) -> list[list[RenderedEmail]]:
    """Each group's version rendered for its customers (a campaign's variants), the data of
    all of them read at once: per group, the renders in its customers' order."""
    return _groups_render(groups, links=links, trace=False, now=now)


def _groups_render(groups, *, links, trace: bool, now) -> list[list[RenderedEmail]]:
    compiled = [_compiled(group.version, group.subject, trace) for group in groups]
    needs = functools.reduce(operator.or_, (c.needs for c in compiled), Needs())
    customers = [customer for group in groups for customer in group.customers]
    recipients = iter(recipients_data(customers=customers, needs=needs, links=links, now=now))
    rendered = []
    for group, parsed in zip(groups, compiled, strict=True):
        renders = []
        for recipient in itertools.islice(recipients, len(group.customers)):
            recipient.data["campaign"] = group.campaign or {}
            renders.append(_render_one(parsed, recipient, Notes()))
        rendered.append(renders)
    return rendered


def template_preview(*, version: TemplateVersion, customer: Customer, now: datetime | None = None) -> RenderedEmail:
    """A version as one customer would get it, noting branches, fallbacks and missing data."""
    [rendered] = templates_render(version=version, customers=[customer], trace=True, now=now)
    return rendered


def template_preview_profile(*, version: TemplateVersion, profile: dict, now: datetime | None = None) -> RenderedEmail:
    """A version rendered for a made-up profile ({"first_name": …, "traits": {…}, "recommendations": […]}),
    with no database behind it: for trying content on data nobody has yet."""
    profile = dict(profile)
    recommendations = profile.pop("recommendations", [])
    data = {
        "shop": shop_data(), "campaign": {}, "products": products_data(), "now": now or timezone.now(),
        "currency": settings.SHOP_CURRENCY,  # as recipients_data has them, so that it renders as a customer's would
        "customer": {"traits": {}, "scores": {}, "segments": [], "attributes": {}, **profile},
        "recommendations": recommendations if isinstance(recommendations, list) else [],
        "links": {"unsubscribe": "#unsubscribe", "preferences": "#preferences", "view_in_browser": "#view"},
        "locale": profile.get("locale", "en-US"), "timezone": profile.get("timezone", "UTC"),
    }  # fmt: skip
    fake = Recipient(customer=Customer(first_name=profile.get("first_name", "")), data=data, personalized=True)
    return _render_one(_compiled(version, "", True), fake, Notes())


@dataclass
class AudiencePreview:
    """How a version renders across a sample of an audience: counts, not looks."""

    rendered: int
    failed: dict[int, str]  # customer: error
    not_personalized: int
    fallbacks: Counter  # fallback value: how many renders showed it
    missing: dict[str, list[int]]  # variable: the customers it was missing for
    branches: Counter  # (part, line, condition, branch taken): renders


def template_audience_preview(
    *, version: TemplateVersion, customers: Sequence[Customer], now: datetime | None = None
) -> AudiencePreview:
    """Render for each customer given (a sample of a segment) and count what happened."""
    preview = AudiencePreview(0, {}, 0, Counter(), {}, Counter())
    for rendered in templates_render(version=version, customers=customers, trace=True, now=now):
        if rendered.error:
            preview.failed[rendered.customer_id] = rendered.error
            continue
        preview.rendered += 1
        preview.not_personalized += not rendered.personalized
        preview.fallbacks.update(set(rendered.notes.fallbacks))
        for path in rendered.notes.missing:
            preview.missing.setdefault(path, []).append(rendered.customer_id)
        preview.branches.update({(b.part, b.line, b.condition, b.taken) for b in rendered.notes.branches})
    return preview


def template_list() -> QuerySet[EmailTemplate]:
    return EmailTemplate.objects.select_related("current_version")


def template_get(*, template_id: int) -> EmailTemplate:
    template = template_list().filter(pk=template_id).first()
    if template is None:
        raise NotFound(f"No template has id {template_id}.", details={"template_id": template_id})
    return template


def template_version_current(*, template: EmailTemplate) -> TemplateVersion:
    if template.current_version is None:
        raise Conflict(f"Template {template.name!r} has no saved version yet: save it first.")
    return template.current_version


def template_versions(*, template: EmailTemplate) -> QuerySet[TemplateVersion]:
    return TemplateVersion.objects.filter(template=template).order_by("-number")


def block_list() -> QuerySet[ContentBlock]:
    return ContentBlock.objects.all()


def block_get(*, block_id: int) -> ContentBlock:
    block = ContentBlock.objects.filter(pk=block_id).first()
    if block is None:
        raise NotFound(f"No content block has id {block_id}.", details={"block_id": block_id})
    return block


def audience_sample(*, segment: Segment, size: int = PREVIEW_SAMPLE) -> list[Customer]:
    """A random sample of a segment's current members, for an audience preview."""
    return list(segment_members(segment=segment).order_by("?")[:size])
