"""Email templates in the admin: content blocks and templates saved through the templating
services (every accepted change of a template becomes a new version), each problem shown
on the field it is in with its line and column, and previews of the current version for
one customer, a made-up profile, or a sample of a segment."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join

from campaigns.models import ContentBlock, EmailTemplate
from campaigns.templating.selectors import (
    PREVIEW_SAMPLE,
    template_audience_preview,
    template_preview,
    template_preview_profile,
)
from campaigns.templating.services import block_save, block_validate, template_save, template_validate
from core.errors import TailorError
from personalization.segments.selectors import segment_list, segment_members
from personalization.selectors import customer_find

PARTS = ("subject", "preheader", "html", "text")
PART_ORDER = {part: index for index, part in enumerate(PARTS)}
SAMPLE_MAX = 1000
MISSING_IDS_SHOWN = 5
FAILED_SHOWN = 20
VERSIONS_SHOWN = 50
CODE = {"class": "vLargeTextField tp-code", "spellcheck": "false"}


def problem_text(problem: dict) -> str:
    """A problem as a marketer reads it: "html, line 3, column 7: unknown filter 'foo'"."""
    part = problem.get("part", "")
    where = f"block '{part[len('block:') :]}'" if part.startswith("block:") else part
    return f"{where}, line {problem.get('line', 1)}, column {problem.get('column', 1)}: {problem.get('message', '')}"


def problems_by_field(error: TailorError, fields: tuple[str, ...], *, default: str) -> dict[str, list[str]]:
    """Each problem of a ValidationError under the field it belongs to (a block's under `default`)."""
    problems = error.details.get("problems") if isinstance(error.details, dict) else None
    if not problems:
        return {default: [error.message]}
    found: dict[str, list[str]] = {}
    for problem in problems:
        field = problem.get("part") if problem.get("part") in fields else default
        found.setdefault(field, []).append(problem_text(problem))
    return found


# --- content blocks ------------------------------------------------------------------


class ContentBlockForm(forms.ModelForm):
    class Meta:
        model = ContentBlock
        fields = ["name", "description", "source"]
        widgets = {"source": forms.Textarea(attrs={**CODE, "rows": 14})}

    def clean_source(self):
        # The check block_save runs first, so that what it refuses shows on the field.
        source = self.cleaned_data["source"]
        try:
            block_validate(block=ContentBlock(source=source))
        except TailorError as error:
            raise forms.ValidationError(problems_by_field(error, ("source",), default="source")["source"]) from None
        return source


@admin.register(ContentBlock)
class ContentBlockAdmin(admin.ModelAdmin):
    form = ContentBlockForm
    list_display = ["name", "description", "updated_at"]
    search_fields = ["name", "description", "source"]
    readonly_fields = ["used_by"]

    class Media:
        css = {"all": ["campaigns/templates.css"]}

    def get_fields(self, request, obj=None):
        return ["name", "description", "source", *(["used_by"] if obj else [])]

    def save_model(self, request, obj, form, change):
        block_save(block=obj)
        for template in _templates_using(obj.name):
            try:
                template_validate(template=template)
            except TailorError as error:
                self.message_user(request, f"{template.name} renders this block and will not save as it is now: "
                                           f"{error.message}", messages.WARNING)  # fmt: skip

    @admin.display(description="used by")
    def used_by(self, block):
        templates = _templates_using(block.name)
        links = format_html_join(
            ", ", '<a href="{}">{}</a>',
            ((reverse("admin:campaigns_emailtemplate_change", args=[t.pk]), t.name) for t in templates),
        )  # fmt: skip
        if not links:
            return "no template's current version renders it"
        return format_html("{} (each takes a change of this block when it is next saved)", links)


def _templates_using(block_name: str) -> list[EmailTemplate]:
    return list(EmailTemplate.objects.filter(current_version__blocks__has_key=block_name).order_by("name"))


# --- templates -----------------------------------------------------------------------


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["name", "kind", "subject", "preheader", "source_format", "html", "text"]
        widgets = {
            "subject": forms.TextInput(attrs={"class": "vLargeTextField tp-code", "spellcheck": "false"}),
            "preheader": forms.TextInput(attrs={"class": "vLargeTextField tp-code", "spellcheck": "false"}),
            "html": forms.Textarea(attrs={**CODE, "rows": 22}),
            "text": forms.Textarea(attrs={**CODE, "rows": 10}),
        }
        labels = {"html": "HTML", "text": "Text part"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # The admin prints help texts as HTML, and these name tags: "CSS in <style> is inlined".
            field.help_text = escape(field.help_text)

    def clean(self):
        data = super().clean()
        if any(field in self.errors for field in ("kind", "source_format", "subject", "html")):
            return data  # already refused: nothing sound to check
        draft = EmailTemplate(**{field: data.get(field) or "" for field in self._meta.fields})
        try:
            template_validate(template=draft)
        except TailorError as error:
            for field, texts in problems_by_field(error, PARTS, default="html").items():
                self.add_error(field, texts)
        return data


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    change_form_template = "admin/campaigns/emailtemplate/change_form.html"
    list_display = ["name", "kind", "version", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "subject"]
    list_select_related = ["current_version"]
    readonly_fields = ["version_history"]

    class Media:
        css = {"all": ["campaigns/templates.css"]}

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["name", "kind"]}),
            ("Content", {"fields": ["subject", "preheader", "source_format", "html", "text"],
                         "description": "Liquid: {{ customer.first_name | default: \"there\" }}, "
                                        "{% if … %}, {% render 'block-name' %}. Every save that passes "
                                        "the checks becomes a new version."}),
        ]  # fmt: skip
        if obj is not None:
            fieldsets.append(("Versions", {"fields": ["version_history"]}))
        return fieldsets

    def save_model(self, request, obj, form, change):
        template_save(template=obj, actor=request.user.get_username())

    @admin.display(description="version", ordering="current_version__number")
    def version(self, template):
        return template.current_version.number if template.current_version else "—"

    @admin.display(description="history")
    def version_history(self, template):
        versions = template.versions.order_by("-number").values_list("number", "created_at", "created_by")
        count, versions = template.versions.count(), versions[:VERSIONS_SHOWN]
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((number, f"{created:%Y-%m-%d %H:%M}", by or "—",
              "current" if number == getattr(template.current_version, "number", None) else "")
             for number, created, by in versions),
        )  # fmt: skip
        if not rows:
            return "no version yet"
        older = f"and {count - VERSIONS_SHOWN} older versions" if count > VERSIONS_SHOWN else ""
        return format_html(
            '<table class="tp-versions"><thead><tr><th scope="col">version</th><th scope="col">created</th>'
            '<th scope="col">by</th><th scope="col"></th></tr></thead><tbody>{}</tbody></table>{}',
            rows,
            older,
        )

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_preview_audience"] = _can_preview_audience(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self):
        own = [
            path("<int:template_id>/preview/", self.admin_site.admin_view(self.preview_view),
                 name="campaigns_emailtemplate_preview"),
            path("<int:template_id>/audience/", self.admin_site.admin_view(self.audience_view),
                 name="campaigns_emailtemplate_audience"),
        ]  # fmt: skip
        return own + super().get_urls()

    def _template_for(self, request, template_id: int) -> EmailTemplate:
        template = self.get_object(request, str(template_id))
        if template is None:
            raise Http404(f"There is no template with id {template_id}.")
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        return template

    def _context(self, request, template: EmailTemplate, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "original": template,
                "template": template, "version": template.current_version, "title": title,
                "text_generated": template.current_version is not None and not template.current_version.text_source,
                "can_see_customers": _can_see_customers(request),
                "can_preview_audience": _can_preview_audience(request)}  # fmt: skip

    def preview_view(self, request, template_id: int):
        """The current version as one customer, or a made-up profile, would get it."""
        template = self._template_for(request, template_id)
        context = self._context(request, template, f"Preview: {template.name}")
        form = PreviewForm(request.GET or None, can_see_customers=context["can_see_customers"])
        context["form"] = form
        if template.current_version is not None and form.is_valid():
            version, data = template.current_version, form.cleaned_data
            if data.get("customer") is not None:
                customer = data["customer"]
                rendered = template_preview(version=version, customer=customer)
                context["customer"] = customer
            else:
                rendered = template_preview_profile(version=version, profile=data["profile"])
            context.update(rendered=rendered, **_notes_table(rendered.notes))
        return TemplateResponse(request, "admin/campaigns/emailtemplate/preview.html", context)

    def audience_view(self, request, template_id: int):
        """The current version across a random sample of a segment: counts, not looks."""
        template = self._template_for(request, template_id)
        if not _can_preview_audience(request):
            raise PermissionDenied
        context = self._context(request, template, f"Audience preview: {template.name}")
        data = request.GET.copy() if request.GET else None
        if data is not None and not data.get("size"):
            data["size"] = str(PREVIEW_SAMPLE)
        form = AudienceForm(data)
        context["form"] = form
        if template.current_version is not None and form.is_valid():
            segment, size = form.cleaned_data["segment"], form.cleaned_data["size"]
            sample = list(segment_members(segment=segment).order_by("?")[:size])
            preview = template_audience_preview(version=template.current_version, customers=sample)
            context.update(segment=segment, sample_size=len(sample), whole_segment=len(sample) < size,
                           preview=preview, **_audience_tables(preview))  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/emailtemplate/audience_preview.html", context)


def _can_see_customers(request) -> bool:
    return request.user.has_perm("personalization.view_customer")


def _can_preview_audience(request) -> bool:
    # The page names segments and links the customers data was missing for.
    return _can_see_customers(request) and request.user.has_perm("personalization.view_segment")


class PreviewForm(forms.Form):
    customer = forms.CharField(
        required=False, label="Customer", help_text="A customer's id or email address.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )  # fmt: skip
    profile = forms.CharField(
        required=False, label="Or a made-up profile",
        help_text='JSON, e.g. {"first_name": "Ana", "traits": {"order_count": 3}, "recommendations": []}',
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField tp-code", "spellcheck": "false"}),
    )  # fmt: skip

    def __init__(self, *args, can_see_customers: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.can_see_customers = can_see_customers
        if not can_see_customers:
            del self.fields["customer"]

    def clean_customer(self):
        value = self.cleaned_data["customer"].strip()
        if not value:
            return None
        customer = customer_find(customer_id=int(value)) if value.isdigit() else customer_find(email=value)
        if customer is None:
            raise forms.ValidationError(f"No customer has the id or email {value!r}.")
        return customer

    def clean_profile(self):
        value = self.cleaned_data["profile"].strip()
        if not value:
            return None
        try:
            profile = json.loads(value)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"This is not valid JSON: {error.msg} (line {error.lineno}, "
                                        f"column {error.colno}).") from None  # fmt: skip
        if not isinstance(profile, dict):
            raise forms.ValidationError('The profile must be a JSON object, e.g. {"first_name": "Ana"}.')
        return profile

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        chosen = [name for name in ("customer", "profile") if data.get(name) is not None]
        if not chosen:
            raise forms.ValidationError(
                "Enter a customer's id or email, or a made-up profile."
                if self.can_see_customers
                else "Enter a made-up profile."
            )
        if len(chosen) == 2:
            raise forms.ValidationError("Enter a customer or a made-up profile, not both.")
        return data


class SegmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, segment):
        count = segment.member_count
        return f"{segment.name} ({count} member{'' if count == 1 else 's'})"


class AudienceForm(forms.Form):
    segment = SegmentChoiceField(queryset=segment_list(), empty_label="— choose a segment —")
    size = forms.IntegerField(
        label="Sample size", initial=PREVIEW_SAMPLE, min_value=1, max_value=SAMPLE_MAX, required=False,
        help_text=f"Customers drawn at random from the segment's members (at most {SAMPLE_MAX}).",
    )  # fmt: skip

    def clean_size(self):
        return self.cleaned_data.get("size") or PREVIEW_SAMPLE


def _notes_table(notes) -> dict:
    """What one render did, for the preview page: branches in order, distinct fallbacks and gaps."""
    return {
        "branches": notes.branches,
        "fallbacks": list(dict.fromkeys(notes.fallbacks)),
        "missing": list(dict.fromkeys(notes.missing)),
    }


def _taken_rank(taken: str) -> int:
    """Branches in the order they are written: if, elsif 1, elsif 2…, else, none."""
    if taken.startswith("elsif "):
        return int(taken.split()[1]) if taken.split()[1].isdigit() else 1
    return {"if": 0, "else": 10_000}.get(taken, 10_001)


def _branch_order(row: tuple) -> tuple:
    part, line, condition, taken, _ = row
    return PART_ORDER.get(part, 0), line, condition, _taken_rank(taken)


def _audience_tables(preview) -> dict:
    rendered = preview.rendered or 1
    fallbacks = sorted(preview.fallbacks.items(), key=lambda item: (-item[1], item[0]))
    fallbacks = [(value, count, round(100 * count / rendered)) for value, count in fallbacks]
    missing = sorted(preview.missing.items(), key=lambda item: (-len(item[1]), item[0]))
    branches = [(*key, count) for key, count in preview.branches.items()]  # (part, line, condition, taken, renders)
    return {
        "fallback_rows": fallbacks,
        "missing_rows": [
            {
                "path": variable,
                "count": len(ids),
                "shown": sorted(ids)[:MISSING_IDS_SHOWN],
                "more": len(ids) - min(len(ids), MISSING_IDS_SHOWN),
            }
            for variable, ids in missing
        ],
        "branch_rows": sorted(branches, key=_branch_order),
        "failed_rows": sorted(preview.failed.items())[:FAILED_SHOWN],
    }


# Campaigns have their own module (sending, progress, results); importing it registers them.
from campaigns import campaign_admin  # noqa: E402, F401
