"""The model registry in the admin: versions with their evidence, and a button to train."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join

from personalization.models import ModelKind, ModelStatus, ModelVersion

STATUS_COLORS = {ModelStatus.ACTIVE: "#2e7d32", ModelStatus.FAILED: "#c62828", ModelStatus.TRAINING: "#1565c0"}


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "state", "precision", "baseline", "trained_at", "train_seconds", "progress_now"]
    list_filter = ["kind", "status"]
    readonly_fields = ["kind", "state", "decision", "hyperparameters", "data_window", "evidence", "progress_now",
                       "train_seconds", "trained_at", "created_at"]  # fmt: skip
    fields = readonly_fields
    change_list_template = "admin/personalization/modelversion/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def state(self, version):
        color = STATUS_COLORS.get(version.status, "#666")
        return format_html('<strong style="color:{}">{}</strong>', color, version.get_status_display())

    @admin.display(description="held-out metric")
    def precision(self, version):
        return _headline(version.metrics)

    @admin.display(description="baseline's")
    def baseline(self, version):
        return _headline(version.baseline_metrics)

    @admin.display(description="progress")
    def progress_now(self, version):
        progress = version.progress or {}
        return f"{progress.get('step', '')} ({progress.get('done', 0):.0%})" if progress else ""

    @admin.display(description="held-out metrics, model against baseline")
    def evidence(self, version):
        rows = ((name, value, version.baseline_metrics.get(name, "")) for name, value in version.metrics.items()
                if name != "calibration")  # fmt: skip
        cells = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
        return format_html("<table><tr><th></th><th>model</th><th>baseline</th></tr>{}</table>", cells) if cells else ""

    def get_urls(self):
        train = path("train/", self.admin_site.admin_view(self.train_view), name="personalization_modelversion_train")
        return [train, *super().get_urls()]

    def train_view(self, request):
        """Queue a training run: the worker trains, this page shows its progress."""
        from personalization.tasks import propensity_train_task, recommender_train_task

        kind = request.POST.get("kind", ModelKind.RECOMMENDER)
        if request.method == "POST" and request.user.has_perm("personalization.view_modelversion"):
            if kind == ModelKind.RECOMMENDER:
                recommender_train_task.delay()
            elif kind in ModelKind.values:
                propensity_train_task.delay(kind)
            self.message_user(request, "Training started; its version appears here with its progress.", messages.INFO)
        return redirect("admin:personalization_modelversion_changelist")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "model_kinds": ModelKind.choices})


def _headline(metrics: dict) -> str:
    """The number a version is judged by: precision@10 for recommendations, AUC for scores."""
    for name in ("precision@10", "auc"):
        if metrics.get(name) is not None:
            return f"{name} {metrics[name]}"
    return ""
