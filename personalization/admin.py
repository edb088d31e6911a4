from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from consent.models import Decision, Purpose, RequestKind
from consent.selectors import consent_history, consent_state, customers_with_decision
from consent.services import data_request_create
from personalization.models import Customer, Identity, Product
from personalization.segments.selectors import customer_segments
from personalization.selectors import traits_summary
from tracking.selectors import events_recent_for_customer


class EmailConsentFilter(admin.SimpleListFilter):
    title = "email marketing consent"
    parameter_name = "email_consent"
    NEVER_ASKED = "never"

    def lookups(self, request, model_admin):
        return [*Decision.choices, (self.NEVER_ASKED, "Never asked")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        decision = None if self.value() == self.NEVER_ASKED else self.value()
        return customers_with_decision(customers=queryset, purpose=Purpose.EMAIL_MARKETING, decision=decision)


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "value", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "external_id", "full_name", "timezone", "first_seen_at", "last_seen_at"]
    list_filter = [
        EmailConsentFilter,
        ("last_seen_at", admin.DateFieldListFilter),
        ("first_seen_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=external_id", "email", "first_name", "last_name", "=identities__value"]
    readonly_fields = [
        "first_seen_at", "last_seen_at", "created_at", "updated_at", "recent_events", "consent_now", "consent_timeline",
        "traits_now", "segments_now",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["external_id", "email", "first_name", "last_name", "timezone", "locale"]}),
        ("Consent", {"fields": ["consent_now", "consent_timeline"]}),
        ("Traits and segments", {"fields": ["traits_now", "segments_now"]}),
        ("Activity", {"fields": ["first_seen_at", "last_seen_at", "recent_events"]}),
        ("Attributes", {"fields": ["attributes"], "classes": ["collapse"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [IdentityInline]
    show_full_result_count = False
    actions = ["export_data", "erase"]

    def has_delete_permission(self, request, obj=None):
        return False  # people are erased (see the actions), not deleted

    def has_export_permission(self, request):
        return request.user.has_perm("consent.export_subject_data")

    def has_erase_permission(self, request):
        return request.user.has_perm("consent.erase_subject")

    def _request(self, request, queryset, kind: str) -> None:
        for customer in queryset:
            data_request_create(kind=kind, customer=customer, requested_by=f"staff:{request.user.get_username()}")
        self.message_user(request, f"{queryset.count()} request(s) opened; follow them under Data subject requests.")

    @admin.action(description="Export their data (access request)", permissions=["export"])
    def export_data(self, request, queryset):
        self._request(request, queryset, RequestKind.EXPORT)

    @admin.action(description="Erase them (right to be forgotten)", permissions=["erase"])
    def erase(self, request, queryset):
        self._request(request, queryset, RequestKind.ERASURE)

    @admin.display(description="now")
    def consent_now(self, customer):
        state = consent_state(customer=customer)
        rows = [(purpose.label, state.purposes[purpose] or "never asked") for purpose in Purpose]
        rows += [(f"topic {slug}", decision or "never asked") for slug, decision in state.topics.items()]
        rows += [("frequency", state.frequency), ("paused until", state.paused_until or "not paused")]
        rows += [("address suppressed", "yes" if state.suppressed else "no")]
        cells = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html("<table>{}</table>", cells)

    @admin.display(description="timeline")
    def consent_timeline(self, customer):
        entries = consent_history(customer=customer)
        if not entries:
            return "no decisions recorded"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{e.at:%Y-%m-%d %H:%M}", e.summary, e.source, e.actor, e.policy_version) for e in entries),
        )
        head = mark_safe("<tr><th>when</th><th>what</th><th>source</th><th>by</th><th>policy</th></tr>")
        return format_html("<table>{}{}</table>", head, rows)

    @admin.display(description="traits")
    def traits_now(self, customer):
        rows = traits_summary(customer=customer)
        if not rows:
            return "no activity yet"
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description="segments now")
    def segments_now(self, customer):
        memberships = customer_segments(customer=customer)
        rows = format_html_join(
            "", '<tr><td><a href="{}">{}</a></td><td>since {}</td><td><a href="{}">why</a></td></tr>',
            ((reverse("admin:personalization_segment_change", args=[m.segment_id]), m.segment.name,
              f"{m.entered_at:%Y-%m-%d %H:%M}",
              reverse("admin:personalization_segment_why", args=[m.segment_id, customer.pk]))
             for m in memberships),
        )  # fmt: skip
        return format_html("<table>{}</table>", rows) if rows else "in no segment"

    @admin.display(description="recent events")
    def recent_events(self, customer):
        events = events_recent_for_customer(customer_id=customer.pk, limit=20)
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td></tr>',
            (
                (
                    f"{event.occurred_at:%Y-%m-%d %H:%M}",
                    reverse("admin:tracking_event_change", args=[event.pk]),
                    event.type,
                    event.product_id or "",
                )
                for event in events
            ),
        )
        if not rows:
            return "none yet"
        return format_html("<table><tr><th>when</th><th>event</th><th>product</th></tr>{}</table>", rows)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "currency", "in_stock", "updated_at"]
    list_filter = ["in_stock", "category", "currency"]
    search_fields = ["=sku", "name", "category"]
    list_editable = ["in_stock"]


from personalization.recommendations import admin as recommendations_admin  # noqa: E402,F401
from personalization.segments import admin as segments_admin  # noqa: E402,F401  (registers the segment pages)
