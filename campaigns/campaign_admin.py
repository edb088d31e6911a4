"""Campaigns in the admin: the audience, variants, schedule and experiment of a draft,
sent, paused, resumed and cancelled through the campaign services (their refusals shown
as messages that say what to fix), a progress box that follows the sending ledger live
over Channels (campaigns/consumers.py), and a results page per variant and holdout with
rates, Wilson intervals, lifts, p-values and the winner's decision.

A campaign is edited only as a draft: once it left draft its page is read-only, as the
ledger and the results refer to what it was when it went out."""

from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core import validators
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns.experiments.stats import Interval
from campaigns.models import (
    Campaign,
    CampaignState,
    ExperimentMode,
    Message,
    MessageKind,
    MessageStatus,
    ScheduleMode,
    TemplateVersion,
    Variant,
    WinnerMetric,
)
from campaigns.results import HOLDOUT, Arm, CampaignResults, Comparison, campaign_results
from campaigns.selectors import campaign_counts, campaign_progress, campaign_waits_for_its_time
from campaigns.services import campaign_cancel, campaign_check, campaign_pause, campaign_resume, campaign_send
from consent.models import Topic
from core.errors import TailorError

STATE_COLORS = {CampaignState.DRAFT: "#666", CampaignState.SCHEDULED: "#6a1b9a", CampaignState.SENDING: "#1565c0",
                CampaignState.PAUSED: "#c78a00", CampaignState.SENT: "#2e7d32",
                CampaignState.CANCELLED: "#c62828"}  # fmt: skip
# The ledger's states in the order a row moves through them, with a short name for the box.
STATUS_NAMES = {MessageStatus.PLANNED: "planned", MessageStatus.WAITING: "waiting for the winner",
                MessageStatus.CLAIMED: "being sent", MessageStatus.SENT: "sent", MessageStatus.HELD_OUT: "held out",
                MessageStatus.FAILED: "failed", MessageStatus.IN_DOUBT: "in doubt",
                MessageStatus.SKIPPED: "skipped", MessageStatus.CANCELLED: "cancelled"}  # fmt: skip
PAUSABLE, RESUMABLE = (CampaignState.SENDING,), (CampaignState.PAUSED,)
CANCELLABLE = (CampaignState.SCHEDULED, CampaignState.SENDING, CampaignState.PAUSED)
# campaign.left_out's reasons: consent.selectors.EmailRefusal and campaigns.sending.audience.
LEFT_OUT_REASONS = {
    "no_address": "No email address",
    "suppressed": "Address suppressed (a hard bounce, a complaint or a request to stop)",
    "no_consent": "No consent to marketing email",
    "topic_not_chosen": "Did not choose this campaign's topic",
    "paused": "Paused their email for now",
    "over_own_frequency": "Would get email more often than they chose",
    "over_frequency_cap": "Over the shop's cap on marketing email",
}
LOWER_IS_BETTER = {"bounced", "unsubscribes", "complaints"}
MINUS, EN_DASH, ALPHA = "\u2212", "\u2013", "\u03b1"  # as typeset: the minus sign, a range's dash, alpha


def error_text(error: TailorError):
    """A service's refusal as a message: its problems as a list when it gives them."""
    problems = error.details.get("problems") if isinstance(error.details, dict) else None
    if not problems:
        return error.message
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in problems)))


def left_out_label(reason: str) -> str:
    if reason == "over_frequency_cap":
        return (f"{LEFT_OUT_REASONS[reason]} ({settings.MARKETING_CAP_MESSAGES} in "
                f"{settings.MARKETING_CAP_DAYS} days)")  # fmt: skip
    return LEFT_OUT_REASONS.get(reason, reason.replace("_", " ").capitalize())


# --- the progress box -----------------------------------------------------------------


def progress_box(campaign: Campaign, progress: dict | None = None) -> dict:
    """What the progress box shows when the page is rendered (the script updates it live)."""
    progress = progress if progress is not None else campaign_progress(campaign=campaign)
    counts = progress["counts"]
    sent, to_send = counts.get(MessageStatus.SENT, 0), progress["planned"] - counts.get(MessageStatus.HELD_OUT, 0)
    return {
        "campaign": campaign,
        "progress": progress,
        "state_label": CampaignState(progress["state"]).label,
        "state_color": STATE_COLORS.get(progress["state"], "#666"),
        "sent": sent,
        "to_send": to_send,
        "percent": round(100 * sent / to_send) if to_send else 0,
        "rows": [(status, STATUS_NAMES[status], status.label, counts.get(status, 0)) for status in STATUS_NAMES],
        "left_out_total": sum(progress["left_out"].values()),
        "socket_path": f"/ws/campaigns/{campaign.pk}/progress",
        "labels": {"states": dict(CampaignState.choices), "colors": STATE_COLORS},
        "pausable": PAUSABLE,
        "resumable": RESUMABLE,
        "cancellable": CANCELLABLE,
        "rendered_at": timezone.localtime(),
        "problems": _problems(campaign) if progress["state"] == CampaignState.DRAFT else [],
    }


# --- the change form ------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "topic", "segments", "excluded_segments", "from_name", "from_email", "schedule_mode",
                  "send_at", "local_hour", "experiment_mode", "holdout_percent", "test_percent", "test_hours",
                  "winner_metric", "min_sample", "alpha", "attribution_hours"]  # fmt: skip
        labels = {"holdout_percent": "Holdout %", "test_percent": "Test group %",
                  "alpha": f"Significance level ({ALPHA})", "from_email": "From address",
                  "send_at": "Send at"}  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "topic" in self.fields:
            self.fields["topic"].queryset = Topic.objects.filter(is_active=True)
        # The model's check constraints, said as a marketer reads them and on their field.
        for name, low, high in (("holdout_percent", 0, 50), ("test_percent", 1, 90), ("local_hour", 0, 23)):
            if name in self.fields:
                self.fields[name].min_value, self.fields[name].max_value = low, high
                self.fields[name].widget.attrs.update(min=low, max=high)
                self.fields[name].validators += [validators.MinValueValidator(low), validators.MaxValueValidator(high)]

    def clean_alpha(self):
        alpha = self.cleaned_data["alpha"]
        if not 0 < alpha < 1:
            raise forms.ValidationError("The significance level is between 0 and 1, e.g. 0.05.")
        return alpha

    def clean(self):
        data = super().clean()
        mode = data.get("schedule_mode")
        if mode == ScheduleMode.AT and not data.get("send_at") and "send_at" not in self.errors:
            self.add_error("send_at", "Give the time to send at.")
        if mode == ScheduleMode.LOCAL_TIME and data.get("local_hour") is None and "local_hour" not in self.errors:
            self.add_error("local_hour", "Give the hour of each recipient's day to send at (0-23).")
        included, excluded = set(data.get("segments") or ()), set(data.get("excluded_segments") or ())
        if included & excluded:
            names = ", ".join(sorted(s.name for s in included & excluded))
            self.add_error("excluded_segments", f"A segment cannot be both the audience and excluded: {names}.")
        return data


class TemplateVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version):
        return f"{version.template.name} v{version.number}"


class VariantForm(forms.ModelForm):
    class Meta:
        model = Variant
        fields = ["name", "template_version", "subject", "weight", "is_control"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        # The results name the people who got nothing "holdout" (campaigns.results.HOLDOUT).
        if name.lower() == HOLDOUT:
            raise forms.ValidationError(f"“{HOLDOUT}” is the results' name for the people who get nothing; "
                                        "choose another name.")  # fmt: skip
        return name


class VariantFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [form for form in self.forms
                if form.cleaned_data and not self._should_delete_form(form)]  # fmt: skip
        if sum(bool(form.cleaned_data.get("is_control")) for form in kept) > 1:
            raise forms.ValidationError("Mark only one variant as control: results are measured against it.")


class VariantInline(admin.TabularInline):
    model = Variant
    form = VariantForm
    formset = VariantFormSet
    fields = ["name", "template_version", "subject", "weight", "is_control"]
    verbose_name = "variant"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("template_version__template")

    def get_extra(self, request, obj=None, **kwargs):
        return 2 if obj is None else 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template_version":
            # Campaigns send marketing email only: it carries the unsubscribe link and the address.
            kwargs["queryset"] = (TemplateVersion.objects.filter(kind=MessageKind.MARKETING)
                                  .select_related("template").order_by("template__name", "-number"))  # fmt: skip
            kwargs["form_class"] = TemplateVersionChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "subject" and field is not None:
            field.label = "Subject override"
            field.widget.attrs.update({"class": "vTextField tp-code", "spellcheck": "false"})
        if db_field.name == "is_control" and field is not None:
            field.label = "Control"
        return field


def _ledger_count(**filters):
    rows = (Message.objects.filter(campaign=OuterRef("pk"), **filters).order_by().values("campaign")
            .annotate(count=Count("pk")).values("count"))  # fmt: skip
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    inlines = [VariantInline]
    list_display = ["name", "state_shown", "schedule", "audience", "sent", "planned", "winner_shown", "created_at"]
    list_filter = ["state", "experiment_mode", "schedule_mode"]
    search_fields = ["name", "segments__name"]
    filter_horizontal = ["segments", "excluded_segments"]
    list_select_related = ["winner"]
    readonly_fields = ["state_shown", "left_out_shown", "winner_shown", "winner_decision", "planned_at",
                       "started_at", "finished_at", "error"]  # fmt: skip
    actions = ["send_selected", "pause_selected", "resume_selected", "cancel_selected"]

    class Media:
        css = {"all": ["campaigns/templates.css", "campaigns/campaigns.css"]}

    def get_queryset(self, request):
        return (super().get_queryset(request).prefetch_related("segments", "excluded_segments")
                .annotate(sent_count=_ledger_count(status=MessageStatus.SENT), ledger_count=_ledger_count(),
                          held_out_count=_ledger_count(status=MessageStatus.HELD_OUT)))  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["name", "topic"]}),
            ("Audience", {"fields": ["segments", "excluded_segments"],
                          "description": "Members of any of the segments and none of the excluded ones, when "
                                         "the campaign starts; consent, frequency and the cap are asked then."}),
            ("Sender", {"fields": ["from_name", "from_email"]}),
            ("Schedule", {"fields": ["schedule_mode", "send_at", "local_hour"]}),
            ("Experiment", {"fields": ["experiment_mode", "holdout_percent", "test_percent", "test_hours",
                                       "winner_metric", "min_sample", "alpha", "attribution_hours"],
                            "description": f"Test %, test hours, minimum sample and {ALPHA} apply to test-then-winner; "
                                           "the holdout gets nothing and measures what the campaign added."}),
        ]  # fmt: skip
        if obj is not None and obj.state != CampaignState.DRAFT:
            # Its state and counts are in the progress box above, live.
            fieldsets.append(("Outcome", {"fields": ["planned_at", "started_at", "finished_at", "left_out_shown",
                                                     "winner_shown", "winner_decision", "error"]}))  # fmt: skip
        return fieldsets

    # A campaign is edited as a draft only; its ledger is the record of who was sent what.
    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != CampaignState.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.messages.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [f"{c.name}: it has a sending ledger (who was sent what); cancel it instead"
                for c in objs if c.messages.exists()]  # fmt: skip
        if kept and super().has_delete_permission(request):
            # Refused for what it is, not for want of a permission the user has.
            perms_needed.discard(self.model._meta.verbose_name)
        return deleted, counts, perms_needed, [*protected, *kept]

    def _may_operate(self, request) -> bool:
        return super().has_change_permission(request)

    # --- the list ---------------------------------------------------------------------

    @admin.display(description="state", ordering="state")
    def state_shown(self, campaign):
        return format_html('<strong class="cp-state-badge" style="color:{}">{}</strong>',
                           STATE_COLORS.get(campaign.state, "#666"), campaign.get_state_display())  # fmt: skip

    @admin.display(description="schedule")
    def schedule(self, campaign):
        if campaign.schedule_mode == ScheduleMode.AT and campaign.send_at:
            return f"at {timezone.localtime(campaign.send_at):%Y-%m-%d %H:%M}"
        if campaign.schedule_mode == ScheduleMode.LOCAL_TIME and campaign.local_hour is not None:
            day = f" on {timezone.localtime(campaign.send_at):%Y-%m-%d}" if campaign.send_at else ""
            return f"{campaign.local_hour:02d}:00 recipients' time{day}"
        return "when sent" if campaign.schedule_mode == ScheduleMode.NOW else "—"

    @admin.display(description="audience")
    def audience(self, campaign):
        included = ", ".join(s.name for s in campaign.segments.all()) or "—"
        excluded = ", ".join(s.name for s in campaign.excluded_segments.all())
        return f"{included} (not {excluded})" if excluded else included

    @admin.display(description="sent", ordering="sent_count")
    def sent(self, campaign):
        to_send = campaign.ledger_count - campaign.held_out_count
        return f"{campaign.sent_count} of {to_send}" if campaign.ledger_count else "—"

    @admin.display(description="planned", ordering="ledger_count")
    def planned(self, campaign):
        if not campaign.ledger_count:
            return "—"
        held = f" ({campaign.held_out_count} held out)" if campaign.held_out_count else ""
        return f"{campaign.ledger_count}{held}"

    @admin.display(description="winner", ordering="winner__name")
    def winner_shown(self, campaign):
        return campaign.winner.name if campaign.winner_id else "—"

    @admin.display(description="left out at planning")
    def left_out_shown(self, campaign):
        if not campaign.left_out:
            return "nobody" if campaign.planned_at else "—"
        rows = sorted(campaign.left_out.items(), key=lambda item: (-item[1], item[0]))
        return format_html_join(", ", "{}: {}", ((left_out_label(reason), count) for reason, count in rows))

    # --- saving, and saving and sending -----------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["box"] = progress_box(obj)
            context["may_operate"] = self._may_operate(request)
        context["may_send"] = self._may_operate(request) and (obj is None or obj.state == CampaignState.DRAFT)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def response_add(self, request, obj, post_url_continue=None):
        if "_send" in request.POST:
            return self._saved_and_sent(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_send" in request.POST:
            return self._saved_and_sent(request, obj)
        return super().response_change(request, obj)

    def _saved_and_sent(self, request, campaign):
        """After "Save and send": send what was just saved, or say why it cannot go."""
        self._send(request, campaign, saved=True)
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    def _send(self, request, campaign, *, saved: bool = False) -> bool:
        prefix = f"“{campaign.name}” was saved and" if saved else f"“{campaign.name}”"
        try:
            campaign = campaign_send(campaign=campaign)
        except TailorError as error:
            lead = (
                f"“{campaign.name}” was saved, but cannot be sent yet:"
                if saved
                else f"“{campaign.name}” cannot be sent:"
            )
            self.message_user(request, format_html("{} {}", lead, error_text(error)), messages.ERROR)
            return False
        if campaign_waits_for_its_time(campaign=campaign, now=timezone.now()):
            when = f"{timezone.localtime(campaign.send_at):%Y-%m-%d %H:%M}"
            self.message_user(request, f"{prefix} is scheduled to send at {when}.", messages.SUCCESS)
            return True
        self.message_user(
            request, f"{prefix} is starting: a worker plans its audience now (consent, frequency, the cap) "
                     "and sends it; the progress box follows it.", messages.SUCCESS,
        )  # fmt: skip
        return True

    # --- actions ------------------------------------------------------------------------

    def _each(self, request, queryset, service, done: str) -> None:
        for campaign in queryset:
            try:
                service(campaign=campaign)
            except TailorError as error:
                self.message_user(request, format_html("“{}”: {}", campaign.name, error_text(error)), messages.ERROR)
            else:
                self.message_user(request, f"“{campaign.name}” {done}.", messages.SUCCESS)

    @admin.action(description="Send the selected drafts", permissions=["change"])
    def send_selected(self, request, queryset):
        for campaign in queryset:
            self._send(request, campaign)

    @admin.action(description="Pause the selected campaigns", permissions=["change"])
    def pause_selected(self, request, queryset):
        self._each(request, queryset, campaign_pause, "is paused: what is in flight finishes, the rest waits")

    @admin.action(description="Resume the selected campaigns", permissions=["change"])
    def resume_selected(self, request, queryset):
        self._each(request, queryset, campaign_resume, "is sending again")

    @admin.action(description="Cancel the selected campaigns…", permissions=["change"])
    def cancel_selected(self, request, queryset):
        if request.POST.get("post") == "yes":
            self._each(request, queryset, campaign_cancel, "is cancelled: nothing more will be sent")
            return None
        campaigns = list(queryset)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Cancel campaigns?",
                   "campaigns": [(c, _cancel_effect(c)) for c in campaigns],
                   "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "media": self.media}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/cancel_selected_confirmation.html", context)

    # --- the campaign's own pages -------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:campaign_id>/results/", view(self.results_view), name="campaigns_campaign_results"),
            path("<int:campaign_id>/pause/", view(self.pause_view), name="campaigns_campaign_pause"),
            path("<int:campaign_id>/resume/", view(self.resume_view), name="campaigns_campaign_resume"),
            path("<int:campaign_id>/cancel/", view(self.cancel_view), name="campaigns_campaign_cancel"),
        ]
        return own + super().get_urls()

    def _campaign_for(self, request, campaign_id: int, *, operate: bool = False) -> Campaign:
        campaign = Campaign.objects.select_related("topic", "winner").filter(pk=campaign_id).first()
        if campaign is None:
            raise Http404(f"There is no campaign with id {campaign_id}.")
        if not self.has_view_permission(request, campaign) or (operate and not self._may_operate(request)):
            raise PermissionDenied
        return campaign

    def _back(self, request, campaign: Campaign):
        page = "results" if request.POST.get("next") == "results" else "change"
        return HttpResponseRedirect(reverse(f"admin:campaigns_campaign_{page}", args=[campaign.pk]))

    def _operate(self, request, campaign_id: int, service, done: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._campaign_for(request, campaign_id, operate=True)
        self._each(request, [campaign], service, done)
        return self._back(request, campaign)

    def pause_view(self, request, campaign_id: int):
        return self._operate(request, campaign_id, campaign_pause,
                             "is paused: what is in flight finishes, the rest waits")  # fmt: skip

    def resume_view(self, request, campaign_id: int):
        return self._operate(request, campaign_id, campaign_resume, "is sending again")

    def cancel_view(self, request, campaign_id: int):
        """Confirm, then cancel: what was not sent yet never will be."""
        campaign = self._campaign_for(request, campaign_id, operate=True)
        if request.method == "POST":
            self._each(request, [campaign], campaign_cancel, "is cancelled: nothing more will be sent")
            return self._back(request, campaign)
        if campaign.state not in (CampaignState.DRAFT, *CANCELLABLE):
            self.message_user(request, f"A {campaign.get_state_display().lower()} campaign cannot be cancelled.",
                              messages.ERROR)  # fmt: skip
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": campaign,
                   "campaign": campaign, "title": f"Cancel “{campaign.name}”?", "effect": _cancel_effect(campaign),
                   "next": request.GET.get("next", "")}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/cancel_confirmation.html", context)

    def results_view(self, request, campaign_id: int):
        """What each variant's recipients did, and the holdout; live progress while it sends."""
        campaign = self._campaign_for(request, campaign_id)
        results = campaign_results(campaign=campaign)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": campaign,
                   "campaign": campaign, "title": f"Results: {campaign.name}", "box": progress_box(campaign),
                   "may_operate": self._may_operate(request), "on_results": True,
                   **results_tables(campaign, results)}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/results.html", context)


def _problems(campaign: Campaign) -> list[str]:
    try:
        campaign_check(campaign=campaign)
    except TailorError as error:
        problems = error.details.get("problems") if isinstance(error.details, dict) else None
        return list(problems or [error.message])
    return []


def _cancel_effect(campaign: Campaign) -> dict:
    counts = campaign_counts(campaign=campaign)
    return {"unsent": counts.get(MessageStatus.PLANNED, 0) + counts.get(MessageStatus.WAITING, 0),
            "sent": counts.get(MessageStatus.SENT, 0), "in_flight": counts.get(MessageStatus.CLAIMED, 0),
            "cancellable": campaign.state in (CampaignState.DRAFT, *CANCELLABLE)}  # fmt: skip


# --- the results page -------------------------------------------------------------------


def percent(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}%"


def interval_text(interval: Interval) -> str:
    return f"{100 * interval.low:.1f}{EN_DASH}{100 * interval.high:.1f}%"


def signed_percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f}%".replace("-", MINUS)


def points(value: float) -> str:
    return f"{100 * value:+.1f} pp".replace("-", MINUS)


def money(value: float, *, signed: bool = False) -> str:
    text = f"{value:+,.2f}" if signed else f"{value:,.2f}"
    return f"{text.replace('-', MINUS)} {settings.SHOP_CURRENCY}"


def p_value_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass
class Cell:
    count: str = "—"
    rate: str = ""
    interval: str = ""  # the Wilson 95% interval of the rate
    note: str = ""


@dataclass
class MetricRow:
    key: str
    label: str
    help: str
    cells: list[Cell]


def _rate_cell(arm: Arm, metric: str) -> Cell:
    if not arm.recipients:
        return Cell(count="0")
    return Cell(str(getattr(arm, metric)), percent(arm.rate(metric)), interval_text(arm.interval(metric)))


def results_tables(campaign: Campaign, results: CampaignResults) -> dict:
    """The results as the page's tables: formatted strings, so that the template only lays them out."""
    arms = results.arms
    window = f"{campaign.attribution_hours} h"
    got_email = [arm.name != HOLDOUT for arm in arms]

    def row(key, label, help_text, cell, *, holdout_too=False):
        cells = [cell(arm) if emailed or holdout_too else Cell(note="got nothing")
                 for arm, emailed in zip(arms, got_email, strict=True)]  # fmt: skip
        return MetricRow(key, label, help_text, cells)

    def opens(arm):
        cell = _rate_cell(arm, "opens")
        if arm.proxy_opens:
            cell.note = f"+ {arm.proxy_opens} by a privacy proxy only, not counted ({percent(arm.rate('proxy_opens'))})"
        return cell

    def revenue(arm):
        return Cell(money(float(arm.revenue)), note=f"{money(arm.revenue_per_recipient())} per recipient")

    def order_revenue(arm):
        each = float(arm.order_revenue) / arm.recipients if arm.recipients else 0.0
        return Cell(money(float(arm.order_revenue)), note=f"{money(each)} per recipient")

    metric_rows = [
        row("recipients", "Sent", "Handed to the ESP; the holdout's people got nothing.",
            lambda arm: Cell(str(arm.recipients)), holdout_too=True),
        row("delivered", "Delivered", "The ESP reported a delivery.", lambda arm: _rate_cell(arm, "delivered")),
        row("bounced", "Bounced", "The ESP reported a bounce.", lambda arm: _rate_cell(arm, "bounced")),
        row("opens", "Unique opens", "People who opened, once each; opens through a privacy proxy (Apple Mail "
            "Privacy Protection) are counted apart and scanners' not at all.", opens),
        row("clicks", "Unique clicks", "People who clicked a link, once each; scanners' clicks left out.",
            lambda arm: _rate_cell(arm, "clicks")),
        row("conversions", "Conversions", f"People with an order within {window} after their first click.",
            lambda arm: _rate_cell(arm, "conversions")),
        row("revenue", "Revenue", f"Orders within {window} after a click.", revenue),
        row("unsubscribes", "Unsubscribes", f"People who withdrew marketing email within {window} of the send.",
            lambda arm: _rate_cell(arm, "unsubscribes"), holdout_too=True),
        row("complaints", "Complaints", "Marked as spam.", lambda arm: _rate_cell(arm, "complaints")),
        row("orders", "Ordered after the send", f"People with any order within {window} after the send (for the "
            "holdout: after it would have been sent); what the holdout is compared on.",
            lambda arm: _rate_cell(arm, "orders"), holdout_too=True),
        row("order_revenue", "Order revenue", f"Every order within {window} after the send.", order_revenue,
            holdout_too=True),
    ]  # fmt: skip
    control = next((arm for arm in arms if arm.is_control), None)
    by_name = {arm.name: arm for arm in arms}
    holdout = by_name.get(HOLDOUT)
    return {
        "arms": [
            {
                "name": arm.name,
                "is_control": arm.is_control,
                "is_holdout": arm.name == HOLDOUT,
                "is_winner": campaign.winner_id is not None and arm.variant_id == campaign.winner_id,
            }
            for arm in arms
        ],
        "metric_rows": metric_rows,
        "control": control,
        "against_control": [
            {"name": name, "rows": [_comparison_row(c, control, by_name[name], campaign) for c in comparisons]}
            for name, comparisons in results.against_control.items()
        ],
        "against_holdout": [
            {
                "name": name,
                "rows": [
                    _comparison_row(c, holdout, by_name[name], campaign, base_name="holdout") for c in comparisons
                ],
            }
            for name, comparisons in results.against_holdout.items()
        ],
        "left_out_rows": [
            (left_out_label(reason), count)
            for reason, count in sorted(campaign.left_out.items(), key=lambda i: (-i[1], i[0]))
        ],
        "left_out_total": sum(campaign.left_out.values()),
        "winner_text": _winner_text(campaign),
        "has_sent": any(arm.recipients for arm in arms),
        "alpha": campaign.alpha,
    }


COMPARED = {"delivered": "Delivered", "bounced": "Bounced", "opens": "Unique opens", "clicks": "Unique clicks",
            "conversions": "Conversions", "orders": "Ordered after the send", "unsubscribes": "Unsubscribes",
            "complaints": "Complaints", WinnerMetric.REVENUE: "Revenue per recipient",
            "order_revenue": "Order revenue per recipient"}  # fmt: skip


def _comparison_row(comparison: Comparison, base: Arm, arm: Arm, campaign: Campaign, *, base_name="control") -> dict:
    metric = str(comparison.metric)
    test = comparison.test
    if metric in (WinnerMetric.REVENUE, "order_revenue"):
        field = "revenue" if metric == WinnerMetric.REVENUE else "order_revenue"
        base_value = float(getattr(base, field)) / base.recipients if base.recipients else 0.0
        arm_value = float(getattr(arm, field)) / arm.recipients if arm.recipients else 0.0
        values = (money(base_value), money(arm_value))
        difference = f"{money(test.difference, signed=True)} (95% CI {money(test.interval.low, signed=True)} to " \
                     f"{money(test.interval.high, signed=True)})"  # fmt: skip
        method = "Welch's t-test"
    else:
        values = (percent(base.rate(metric)), percent(arm.rate(metric)))
        difference = f"{points(test.difference)} (95% CI {points(test.interval.low)} to {points(test.interval.high)})"
        method = "two-proportion z-test"
    beat = comparison.probability_to_beat
    if beat is not None and metric in LOWER_IS_BETTER:
        beat = 1 - beat  # lower is better: the chance of a lower rate
    return {
        "metric": metric,
        "label": COMPARED.get(metric, metric),
        "base": values[0],
        "arm": values[1],
        "lift": signed_percent(comparison.lift),
        "difference": difference,
        "p_value": p_value_text(test.p_value),
        "significant": test.significant(campaign.alpha),
        "method": method,
        "beat": "—" if beat is None else percent(beat, 0),
        "lower_is_better": metric in LOWER_IS_BETTER,
        "is_winner_metric": base_name == "control" and metric == _winner_field(campaign),
    }


def _winner_field(campaign: Campaign) -> str:
    return WinnerMetric.REVENUE if campaign.winner_metric == WinnerMetric.REVENUE else campaign.winner_metric


def _winner_text(campaign: Campaign) -> str:
    if campaign.winner_decision:
        return campaign.winner_decision
    if campaign.experiment_mode == ExperimentMode.SPLIT:
        return "A split test: every variant goes to its share of the audience, and no winner is chosen."
    metric = WinnerMetric(campaign.winner_metric).label
    if campaign.started_at:
        at = timezone.localtime(campaign.started_at) + timedelta(hours=campaign.test_hours)
        return f"Not decided yet: the winner is chosen on {metric.lower()} at {at:%Y-%m-%d %H:%M}."
    return f"The winner will be chosen on {metric.lower()}, {campaign.test_hours} h after the campaign starts."
