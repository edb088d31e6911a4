from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from consent.models import (
    ConsentRecord,
    ConsentSource,
    DataSubjectRequest,
    OptInRequest,
    PreferenceChange,
    RequestLogEntry,
    RetentionPolicy,
    RetentionRun,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.selectors import address_hash
from consent.services import (
    consent_record,
    consent_record_check,
    consents_import_csv,
    retention_purge,
    suppression_add,
)
from core.errors import TailorError
from core.http import request_proof


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence is shown, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "description", "is_active"]
    list_filter = ["is_active"]
    prepopulated_fields = {"slug": ["name"]}

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger refers to topics; retire one by making it inactive


class ConsentRecordForm(forms.ModelForm):
    """Recording a decision a person made elsewhere (by phone, by letter)."""

    note = forms.CharField(required=False, help_text="How the person told you (kept as proof).")

    class Meta:
        model = ConsentRecord
        fields = ["customer", "purpose", "topic", "decision", "policy_version", "wording"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "topic" in self.fields:  # absent from the read-only view of a recorded decision
            self.fields["topic"].queryset = Topic.objects.filter(is_active=True)

    def clean(self):
        data = super().clean()
        try:  # the ledger's own rule, shown on the form
            consent_record_check(
                customer=data.get("customer"),
                purpose=data.get("purpose"),
                decision=data.get("decision"),
                source=ConsentSource.ADMIN,
                topic=data["topic"].slug if data.get("topic") else None,
            )
        except TailorError as error:
            raise forms.ValidationError(error.message) from error
        return data


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="UTF-8 CSV with columns email, purpose, decision, and optionally topic, recorded_at."
    )
    source = forms.ChoiceField(choices=ConsentSource.choices, initial=ConsentSource.IMPORT)
    policy_version = forms.CharField(max_length=50, help_text="The policy version these people agreed to.")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ["recorded_at", "customer", "purpose", "topic", "decision", "source", "policy_version", "actor"]
    list_filter = ["purpose", "decision", "source", "topic", ("recorded_at", admin.DateFieldListFilter)]
    search_fields = ["=customer__email", "=customer__external_id", "=subject_hash"]
    list_select_related = ["customer", "topic"]
    raw_id_fields = ["customer"]
    show_full_result_count = False
    form = ConsentRecordForm
    change_list_template = "admin/consent/consentrecord/change_list.html"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ConsentRecord._meta.fields] if obj else []

    def save_model(self, request, obj, form, change):
        record = consent_record(
            customer=form.cleaned_data["customer"],
            purpose=form.cleaned_data["purpose"],
            topic=form.cleaned_data["topic"].slug if form.cleaned_data["topic"] else None,
            decision=form.cleaned_data["decision"],
            source=ConsentSource.ADMIN,
            actor=f"staff:{request.user.get_username()}",
            policy_version=form.cleaned_data["policy_version"],
            wording=form.cleaned_data["wording"],
            proof=request_proof(request, form="admin", note=form.cleaned_data["note"]),
        )
        obj.pk = record.pk
        obj.refresh_from_db()

    def get_urls(self):
        import_view = self.admin_site.admin_view(self.import_view)
        return [path("import/", import_view, name="consent_consentrecord_import"), *super().get_urls()]

    def import_view(self, request):
        if not request.user.has_perm("consent.import_consents"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            try:
                imported = consents_import_csv(
                    content=form.cleaned_data["file"].read(),
                    source=form.cleaned_data["source"],
                    policy_version=form.cleaned_data["policy_version"],
                    actor=f"staff:{request.user.get_username()}",
                )
            except TailorError as error:
                messages.error(request, error.message)
                problems = error.details if isinstance(error.details, list) else []
            else:
                messages.success(
                    request,
                    f"Imported {imported.records} decisions; {imported.customers_created} new customer profiles.",
                )
                return redirect("admin:consent_consentrecord_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "problems": problems,
                   "title": "Import consents from CSV", "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/consent/consentrecord/import.html", context)


@admin.register(PreferenceChange)
class PreferenceChangeAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "customer", "frequency", "paused_until", "source", "actor"]
    list_filter = ["frequency", "source"]
    search_fields = ["=customer__email", "=customer__external_id"]
    list_select_related = ["customer"]


class SuppressionForm(forms.ModelForm):
    email = forms.EmailField(help_text="Stored only as a hash.")
    reason = forms.ChoiceField(choices=SuppressionReason.choices, initial=SuppressionReason.MANUAL)

    class Meta:
        model = Suppression
        fields = ["reason", "note"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["address_hash", "reason", "note", "created_at"]
    list_filter = ["reason"]
    search_fields = ["=address_hash"]
    form = SuppressionForm

    def get_search_results(self, request, queryset, search_term):
        # Staff search by address; the list holds only hashes.
        if "@" in search_term:
            search_term = address_hash(search_term)
        return super().get_search_results(request, queryset, search_term)

    def has_change_permission(self, request, obj=None):
        return False  # add one, or delete it to lift it

    def save_model(self, request, obj, form, change):
        suppression = suppression_add(
            email=form.cleaned_data["email"],
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
        obj.pk = suppression.pk
        obj.refresh_from_db()


@admin.register(OptInRequest)
class OptInRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "confirmation_sent_at", "confirmed_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter)]
    search_fields = ["=customer__email"]
    list_select_related = ["customer"]


class RequestLogInline(admin.TabularInline):
    model = RequestLogEntry
    fields = ["at", "actor", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "customer", "requested_by", "created_at", "completed_at", "download"]
    list_filter = ["kind", "status"]
    search_fields = ["=subject_hash", "=customer__email"]
    exclude = ["document"]
    inlines = [RequestLogInline]
    list_select_related = ["customer"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("consent.export_subject_data") or request.user.has_perm("consent.erase_subject")

    def get_urls(self):
        export_view = self.admin_site.admin_view(self.export_view)
        return [
            path("<int:pk>/export.json", export_view, name="consent_datasubjectrequest_export"),
            *super().get_urls(),
        ]

    @admin.display(description="export")
    def download(self, obj):
        if obj.document is None:
            return "—"
        return format_html(
            '<a href="{}">export.json</a>', reverse("admin:consent_datasubjectrequest_export", args=[obj.pk])
        )

    def export_view(self, request, pk: int):
        if not request.user.has_perm("consent.export_subject_data"):
            raise PermissionDenied
        found = DataSubjectRequest.objects.filter(pk=pk, document__isnull=False).first()
        if found is None:
            messages.error(request, "That export does not exist (any more).")
            return redirect("admin:consent_datasubjectrequest_changelist")
        response = JsonResponse(found.document, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="data-export-{pk}.json"'
        return response


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "event_type", "keep_days", "updated_at"]
    list_editable = ["keep_days"]
    actions = ["purge_now"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "last_run": RetentionRun.objects.first()}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Purge expired events now (all policies)")
    def purge_now(self, request, queryset):
        run = retention_purge()
        self.message_user(request, f"Purged {run.total_deleted} expired events.")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "total_deleted", "deleted", "error"]
