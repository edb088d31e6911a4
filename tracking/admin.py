from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from tracking.models import Event, Source
from tracking.selectors import events_processed_marked, events_recent, sources_all
from tracking.services.stats import COUNT_KINDS, source_counts


class ProcessedFilter(admin.SimpleListFilter):
    title = "processed"
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return [("yes", "Processed"), ("no", "Waiting for the worker")]

    def queryset(self, request, queryset):
        # The changelist's events are marked by EventAdmin.get_queryset.
        if self.value() in ("yes", "no"):
            return queryset.filter(processed=self.value() == "yes")
        return queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events are evidence: the admin shows them and never edits them."""

    list_display = [
        "occurred_at",
        "type",
        "customer",
        "user_id",
        "anonymous_id",
        "product_id",
        "source",
        "processed",
    ]
    list_filter = [
        "type",
        "source",
        ("occurred_at", admin.DateFieldListFilter),
        ProcessedFilter,
    ]
    search_fields = ["=message_id", "=user_id", "=anonymous_id", "=customer__email"]
    list_select_related = ["customer", "source"]
    raw_id_fields = ["customer"]
    show_full_result_count = False
    ordering = ["-occurred_at"]

    def get_queryset(self, request):
        return events_processed_marked(super().get_queryset(request))

    @admin.display(boolean=True, description="processed")
    def processed(self, event: Event) -> bool:
        return event.processed

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "write_key", "is_active", "consent_mode", "events_per_second", *COUNT_KINDS]
    list_filter = ["is_active", "consent_mode"]
    search_fields = ["name", "=write_key"]
    readonly_fields = ["write_key", "install", "last_7_days", "created_at", "updated_at"]
    change_list_template = "admin/tracking/source/change_list.html"

    def get_fields(self, request, obj=None):
        editable = ["name", "is_active", "consent_mode", "events_per_second", "allowed_origins"]
        return editable if obj is None else [*editable, *self.readonly_fields]

    def _today(self, source, kind: str) -> int:
        if not hasattr(source, "_counts"):
            source._counts = source_counts(source_id=source.pk, days=1)[0][1]
        return source._counts[kind]

    @admin.display(description="stored today")
    def stored(self, source):
        return self._today(source, "stored")

    @admin.display(description="duplicates today")
    def duplicate(self, source):
        return self._today(source, "duplicate")

    @admin.display(description="refused today")
    def refused(self, source):
        return self._today(source, "refused")

    @admin.display(description="not consented today")
    def not_consented(self, source):
        return self._today(source, "not_consented")

    @admin.display(description="last 7 days")
    def last_7_days(self, source):
        cells = "<td>{}</td>" * (1 + len(COUNT_KINDS))
        head = format_html_join("", "<th>{}</th>", ((kind.replace("_", " "),) for kind in ("day", *COUNT_KINDS)))
        rows = format_html_join(
            "",
            f"<tr>{cells}</tr>",
            ((day, *(counts[kind] for kind in COUNT_KINDS)) for day, counts in source_counts(source_id=source.pk)),
        )
        return format_html("<table><tr>{}</tr>{}</table>", head, rows)

    @admin.display(description="install on the site")
    def install(self, source):
        snippet = (
            f'<script src="{settings.TAILOR_BASE_URL}{static("tailor/tailor.js")}" '
            f'data-write-key="{source.write_key}" async></script>'
        )
        return format_html("<code>{}</code>", snippet)

    def get_urls(self):
        live = self.admin_site.admin_view(self.live_view)
        return [path("live/", live, name="tracking_source_live"), *super().get_urls()]

    def live_view(self, request):
        sources = list(sources_all())
        context = {
            **self.admin_site.each_context(request),
            "title": "Live events",
            "opts": self.model._meta,
            "events": events_recent(limit=50),
            "sources": [(s, source_counts(source_id=s.pk, days=1)[0][1]) for s in sources],
            "source_names": {s.pk: s.name for s in sources},
            "count_kinds": COUNT_KINDS,
            "events_url": reverse("admin:tracking_event_changelist"),
        }
        return TemplateResponse(request, "admin/tracking/source/live.html", context)
