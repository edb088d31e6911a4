from django.contrib import admin, messages

from core.models import ApiKey
from core.services import api_key_create, api_key_revoke

admin.site.site_header = "Tailor"
admin.site.site_title = "Tailor admin"
admin.site.index_title = "Personalized email, consent first"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "is_active", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["name"] if obj is None else ["name", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = api_key_create(name=obj.name, created_by=request.user)
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        messages.warning(
            request, f"Copy the secret key now; it is not stored and will not be shown again: {issued.secret}"
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active
