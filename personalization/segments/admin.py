"""Segments in the admin: a rule builder with the live audience, freshness, members and "why"."""

import orjson
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as FormValidationError
from django.http import Http404, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.errors import NotFound, TailorError
from personalization.models import Clustering, RefreshStatus, Segment, SegmentKind, TraitsRun
from personalization.segments.rules import Explanation, rules_describe
from personalization.segments.selectors import segment_members, segment_preview, segment_why, segments_using
from personalization.segments.services import segment_delete, segment_refresh, segment_rules_validate, segment_save
from personalization.segments.vocabulary import rules_vocabulary
from personalization.selectors import customer_get

STATUS_COLORS = {RefreshStatus.FRESH: "#2e7d32", RefreshStatus.FAILED: "#c62828", RefreshStatus.RUNNING: "#1565c0"}


class SegmentForm(forms.ModelForm):
    rules = forms.JSONField(widget=forms.Textarea(attrs={"rows": 8, "class": "vLargeTextField rules-json"}))

    class Meta:
        model = Segment
        fields = ["name", "description", "is_active", "rules"]

    def clean_rules(self):
        rules = self.cleaned_data["rules"]
        try:
            segment_rules_validate(rules=rules, segment_id=self.instance.pk)
        except TailorError as error:
            raise FormValidationError(error.message) from None
        return rules


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    change_form_template = "admin/personalization/segment/change_form.html"
    list_display = ["name", "kind", "member_count", "freshness", "refreshed_at", "refresh_seconds", "is_active"]
    list_filter = ["kind", "refresh_status", "is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["rules_in_words", "member_count", "freshness", "refreshed_at", "refresh_seconds",
                       "refresh_error", "members_sample"]  # fmt: skip
    actions = ["refresh"]

    def get_fieldsets(self, request, obj=None):
        editable = (None, {"fields": ["name", "description", "is_active", "rules"]})
        if obj is None:
            return [editable]
        state = ("Membership", {"fields": ["rules_in_words", "member_count", "freshness", "refreshed_at",
                                           "refresh_seconds", "refresh_error", "members_sample"]})  # fmt: skip
        if obj.kind == SegmentKind.CLUSTER:
            return [(None, {"fields": ["name", "description"]}), state]
        return [editable, state]

    def has_change_permission(self, request, obj=None):
        # A cluster segment is made by its clustering run: its page shows it, nothing on it is edited.
        if obj is not None and obj.kind == SegmentKind.CLUSTER:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.kind == SegmentKind.CLUSTER:
            return False  # it belongs to its clustering: delete the clustering instead
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        """The admin's own confirmation, refusing (as segment_delete does) segments that others
        use and cluster segments, for the delete page and the "delete selected" action alike."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed, [*protected, *_undeletable(list(objs))]

    def delete_model(self, request, obj):
        segment_delete(segment=obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.kind == SegmentKind.CLUSTER:
            return [*self.readonly_fields, "name", "description"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {"name": data["name"], "rules": data["rules"], "description": data.get("description", ""),
                  "is_active": data.get("is_active", True)}  # fmt: skip
        obj.pk = segment_save(segment=obj if change else None, **fields).pk

    @admin.display(description="status")
    def freshness(self, segment):
        color = STATUS_COLORS.get(segment.refresh_status, "#666")
        return format_html('<strong style="color:{}">{}</strong>', color, segment.get_refresh_status_display())

    @admin.display(description="rules in words")
    def rules_in_words(self, segment):
        return rules_describe(segment.rules) if segment.rules else segment.description

    @admin.display(description="some members")
    def members_sample(self, segment):
        members = segment_members(segment=segment)[:20]
        links = format_html_join(
            ", ", '<a href="{}">{}</a> (<a href="{}">why</a>)',
            ((reverse("admin:personalization_customer_change", args=[c.pk]), str(c),
              reverse("admin:personalization_segment_why", args=[segment.pk, c.pk])) for c in members),
        )  # fmt: skip
        return links or "nobody yet"

    @admin.action(description="Refresh membership now")
    def refresh(self, request, queryset):
        for segment in queryset.filter(kind=SegmentKind.RULES):
            segment = segment_refresh(segment=segment)
            level = messages.ERROR if segment.refresh_status == RefreshStatus.FAILED else messages.SUCCESS
            self.message_user(request, f"{segment.name}: {segment.get_refresh_status_display()}, "
                                       f"{segment.member_count} members.", level)  # fmt: skip

    def get_urls(self):
        own = [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="personalization_segment_preview"),
            path("<int:segment_id>/why/<int:customer_id>/", self.admin_site.admin_view(self.why_view),
                 name="personalization_segment_why"),
        ]  # fmt: skip
        return own + super().get_urls()

    def render_change_form(self, request, context, *args, **kwargs):
        context["rules_vocabulary"] = rules_vocabulary()
        context["preview_url"] = reverse("admin:personalization_segment_preview")
        return super().render_change_form(request, context, *args, **kwargs)

    def preview_view(self, request):
        """The live audience of rules being edited: size and a sample, or where the rules are wrong."""
        if request.method != "POST":
            return JsonResponse({"error": {"message": "POST rules as JSON."}}, status=405)
        if not self.has_view_permission(request):
            return JsonResponse({"error": {"message": "You may not view segments."}}, status=403)
        try:
            preview = segment_preview(rules=orjson.loads(request.body).get("rules"))
        except (orjson.JSONDecodeError, AttributeError):
            return JsonResponse({"error": {"message": "The body must be a JSON object with 'rules'."}}, status=400)
        except TailorError as error:
            return JsonResponse({"error": {"message": error.message, "details": error.details}}, status=400)
        sample = [{"id": c.pk, "label": str(c), "url": reverse("admin:personalization_customer_change", args=[c.pk])}
                  for c in preview.sample]  # fmt: skip
        return JsonResponse({"size": preview.size, "sample": sample})

    def why_view(self, request, segment_id: int, customer_id: int):
        from django.template.response import TemplateResponse

        if not self.has_view_permission(request):
            raise PermissionDenied
        segment = self.get_object(request, str(segment_id))
        if segment is None:
            raise Http404(f"There is no segment with id {segment_id}.")
        try:
            customer = customer_get(customer_id=customer_id)
        except NotFound as error:
            raise Http404(error.message) from None
        explanation = segment_why(segment=segment, customer=customer)
        context = {**self.admin_site.each_context(request), "segment": segment, "customer": customer,
                   "rows": list(_rows(explanation)), "holds": explanation.holds, "opts": self.model._meta,
                   "title": f"Why {customer} is {'' if explanation.holds else 'not '}in {segment}"}  # fmt: skip
        return TemplateResponse(request, "admin/personalization/segment/why.html", context)


def _undeletable(segments: list[Segment]) -> list[str]:
    """Why some of these segments cannot be deleted: cluster segments, and segments that
    segments staying behind use."""
    ids = {segment.pk for segment in segments}
    names = {segment.pk: segment.name for segment in segments}
    reasons = [f"{s.name}: a cluster segment, delete its clustering instead" for s in segments
               if s.kind == SegmentKind.CLUSTER]  # fmt: skip
    for used, users in segments_using(segment_ids=ids).items():
        reasons += [f"{names[used]}: segment {user.name} uses it, change its rules first" for user in users]
    return reasons


def _rows(explanation: Explanation, depth: int = 0):
    """The explanation tree, flattened for a table."""
    yield {"depth": depth * 24, "text": explanation.text, "holds": explanation.holds, "observed": explanation.observed}
    for child in explanation.children:
        yield from _rows(child, depth + 1)


@admin.register(Clustering)
class ClusteringAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customers", "inertia", "ran_at", "refresh_status"]
    readonly_fields = ["customers", "inertia", "ran_at", "refresh_status", "error", "clusters_found"]
    actions = ["run"]

    @admin.display(description="clusters")
    def clusters_found(self, clustering):
        rows = ((reverse("admin:personalization_segment_change", args=[s.pk]), s.name, s.member_count)
                for s in clustering.segments.order_by("centroid__index"))  # fmt: skip
        return format_html_join("", '<div><a href="{}">{}</a>: {} members</div>', rows) or "not run yet"

    @admin.action(description="Run the clustering now")
    def run(self, request, queryset):
        from personalization.segments.clustering import clustering_run

        for clustering in queryset:
            clustering = clustering_run(clustering=clustering)
            self.message_user(request, f"{clustering}: {clustering.get_refresh_status_display()} {clustering.error}")


@admin.register(TraitsRun)
class TraitsRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "finished_at", "succeeded", "customers"]
    readonly_fields = ["started_at", "finished_at", "succeeded", "customers", "rfm_breakpoints", "error"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
