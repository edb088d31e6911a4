from django.contrib import admin

from tracking.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events are evidence: the admin shows them and never edits them."""

    list_display = ["occurred_at", "type", "customer", "user_id", "anonymous_id", "product_id", "received_at"]
    list_filter = ["type", ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["=message_id", "=user_id", "=anonymous_id", "=customer__email"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    show_full_result_count = False
    ordering = ["-occurred_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
