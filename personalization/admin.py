from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from personalization.models import Customer, Identity, Product
from tracking.selectors import events_recent_for_customer


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
    list_filter = [("last_seen_at", admin.DateFieldListFilter), ("first_seen_at", admin.DateFieldListFilter)]
    search_fields = ["=external_id", "email", "first_name", "last_name", "=identities__value"]
    readonly_fields = ["first_seen_at", "last_seen_at", "created_at", "updated_at", "recent_events"]
    fieldsets = [
        (None, {"fields": ["external_id", "email", "first_name", "last_name", "timezone", "locale"]}),
        ("Activity", {"fields": ["first_seen_at", "last_seen_at", "recent_events"]}),
        ("Attributes", {"fields": ["attributes"], "classes": ["collapse"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [IdentityInline]
    show_full_result_count = False

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
