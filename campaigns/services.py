"""Writes of the campaigns app. All email Tailor sends leaves through here."""

import logging
from collections.abc import Sequence
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from campaigns.experiments.winner import Decision, winner_choose
from campaigns.models import (
    AudienceGroup,
    Campaign,
    CampaignState,
    ExperimentMode,
    Message,
    MessageKind,
    MessageStatus,
    ScheduleMode,
    Variant,
)
from campaigns.results import campaign_results
from campaigns.selectors import (
    campaign_due_count,
    campaign_progress,
    campaign_progress_group,
    campaign_waits_for_its_time,
)
from campaigns.sending.audience import campaign_plan, send_after_for
from campaigns.sending.batches import batch_send
from campaigns.sending.ledger import claims_recover
from campaigns.templating.lint import subject_check
from core.errors import Conflict, ValidationError

logger = logging.getLogger(__name__)


def _tasks():
    # tasks.py imports this module; the tasks are looked up when queued.
    from campaigns import tasks

    return tasks


def transactional_email_send(
    *, to: str, subject: str, text: str, html: str = "", tags: Sequence[str] = (), metadata: dict | None = None
) -> str | None:
    """Send one non-marketing email (e.g. an opt-in confirmation); return the ESP's message id when known."""
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    if html:
        message.attach_alternative(html, "text/html")
    # Anymail backends read these to tag the message at the ESP; other backends ignore them.
    message.tags = list(tags)
    message.metadata = metadata or {}
    message.send()
    status = getattr(message, "anymail_status", None)
    return status.message_id if status else None


# --- campaigns --------------------------------------------------------------------
#
# draft ──send──► scheduled ──its time──► sending ──all rows done──► sent
#                     │                    │  ▲
#                     └──────cancel────────┤  └─resume── paused ◄─pause─┘
#                                          ▼
#                                      cancelled
#
# A campaign's audience is planned when it starts sending (so consent is asked at send
# time), its rows are sent in batches by Celery tasks, and each batch asks consent again.


def _transition_refused(campaign: Campaign, action: str) -> Conflict:
    return Conflict(
        f"A {campaign.get_state_display().lower()} campaign cannot be {action}.",
        details={"state": campaign.state, "action": action},
    )


def campaign_check(*, campaign: Campaign) -> None:
    """Refuse a campaign that cannot be sent, saying what to fix (ValidationError)."""
    problems = []
    variants = list(campaign.variants.select_related("template_version"))
    if not campaign.segments.exists():
        problems.append("Choose at least one segment as the audience.")
    if not variants:
        problems.append("Add at least one variant with a template version.")
    if len(variants) > 1 and sum(v.is_control for v in variants) != 1:
        problems.append("Mark one variant as control: results and winners are measured against it.")
    if campaign.experiment_mode == ExperimentMode.TEST_THEN_WINNER and len(variants) < 2:
        problems.append("A test-then-winner campaign needs at least two variants.")
    if any(v.template_version.kind != MessageKind.MARKETING for v in variants):
        problems.append("Campaigns send marketing templates only (they carry the unsubscribe link and address).")
    if campaign.schedule_mode == ScheduleMode.AT and campaign.send_at is None:
        problems.append("Give the time to send at (send_at).")
    if campaign.schedule_mode == ScheduleMode.LOCAL_TIME and campaign.local_hour is None:
        problems.append("Give the hour of each recipient's day to send at (local_hour, 0-23).")
    for variant in variants:
        if variant.subject:
            try:
                subject_check(subject=variant.subject, blocks=variant.template_version.blocks)
            except ValidationError as error:
                problems.append(f"Variant {variant.name}'s subject: {error.message}")
    if problems:
        raise ValidationError(" ".join(problems), details={"problems": problems})


def campaign_send(*, campaign: Campaign) -> Campaign:
    """Send a draft: now, or at its time (scheduled); its audience is planned when it starts."""
    if campaign.state != CampaignState.DRAFT:
        raise _transition_refused(campaign, "sent")
    campaign_check(campaign=campaign)
    now = timezone.now()
    campaign.state = CampaignState.SCHEDULED
    campaign.save(update_fields=["state", "updated_at"])
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    if not campaign_waits_for_its_time(campaign=campaign, now=now):
        # Planning reads the whole audience: a worker does it, not the request that asked.
        transaction.on_commit(lambda: _tasks().campaign_start_task.delay(campaign.pk))
    return campaign


@transaction.atomic
def campaign_start(*, campaign: Campaign, now) -> Campaign:
    """Plan the audience into the ledger and start sending (on commit)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.state not in (CampaignState.DRAFT, CampaignState.SCHEDULED):
        return campaign
    campaign.left_out = dict(campaign_plan(campaign=campaign, now=now))
    campaign.state, campaign.planned_at, campaign.started_at = CampaignState.SENDING, now, now
    campaign.save(update_fields=["left_out", "state", "planned_at", "started_at", "updated_at"])
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    transaction.on_commit(lambda: campaign_sending_schedule(campaign_id=campaign.pk))
    return campaign


def campaign_sending_schedule(*, campaign_id: int, countdown: float = 0) -> None:
    """Queue the campaign's senders: a few tasks, each sending batches until none is due."""
    for _ in range(settings.CAMPAIGN_SEND_CONCURRENCY):
        _tasks().campaign_send_task.apply_async(args=[campaign_id], countdown=countdown)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stop sending after the messages in flight; what is planned stays planned."""
    changed = Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SENDING).update(state=CampaignState.PAUSED)
    if not changed:
        raise _transition_refused(campaign, "paused")
    campaign.refresh_from_db()
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    changed = Campaign.objects.filter(pk=campaign.pk, state=CampaignState.PAUSED).update(state=CampaignState.SENDING)
    if not changed:
        raise _transition_refused(campaign, "resumed")
    campaign.refresh_from_db()
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    transaction.on_commit(lambda: campaign_sending_schedule(campaign_id=campaign.pk))
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Send nothing more: rows not yet sent are cancelled (those in flight finish)."""
    cancellable = (CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.SENDING, CampaignState.PAUSED)
    changed = Campaign.objects.filter(pk=campaign.pk, state__in=cancellable).update(
        state=CampaignState.CANCELLED, finished_at=timezone.now()
    )
    if not changed:
        raise _transition_refused(campaign, "cancelled")
    Message.objects.filter(campaign=campaign, status__in=[MessageStatus.PLANNED, MessageStatus.WAITING]).update(
        status=MessageStatus.CANCELLED
    )
    campaign.refresh_from_db()
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    return campaign


def campaign_batches_send(*, campaign_id: int) -> int:
    """Send the campaign's due batches until none is left, it is paused, or the ESP says wait
    (TransientSendError, for the task to retry). Returns how many were sent."""
    sent = 0
    while True:
        campaign = Campaign.objects.select_related("topic").get(pk=campaign_id)
        if campaign.state == CampaignState.CANCELLED:
            # rows a batch gave back after the cancel are cancelled too
            Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).update(
                status=MessageStatus.CANCELLED
            )
        if campaign.state != CampaignState.SENDING:
            return sent
        outcome = batch_send(campaign=campaign)
        sent += outcome.sent
        campaign_progress_publish(campaign=campaign)
        if not outcome.claimed or outcome.stopped:
            break
    campaign_finish_if_done(campaign=campaign)
    return sent


def campaign_finish_if_done(*, campaign: Campaign) -> bool:
    """A sending campaign with nothing planned, waiting or in flight is sent."""
    open_rows = Message.objects.filter(
        campaign=campaign, status__in=[MessageStatus.PLANNED, MessageStatus.WAITING, MessageStatus.CLAIMED]
    )
    if open_rows.exists():
        return False
    done = Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SENDING).update(
        state=CampaignState.SENT, finished_at=timezone.now()
    )
    if done:
        campaign.refresh_from_db()
        campaign_progress_publish(campaign=campaign)
    return bool(done)


@transaction.atomic
def campaign_winner_decide(*, campaign: Campaign) -> Decision:
    """Choose the test's winner (or control, when inconclusive) and plan it for the rest."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    control = campaign.variants.get(is_control=True)
    decision = winner_choose(
        results=campaign_results(campaign=campaign, group=AudienceGroup.TEST), metric=campaign.winner_metric,
        control=control.name, min_sample=campaign.min_sample, alpha=campaign.alpha,
    )  # fmt: skip
    winner = campaign.variants.get(name=decision.winner)
    campaign.winner, campaign.winner_decision = winner, decision.reason
    campaign.save(update_fields=["winner", "winner_decision", "updated_at"])
    # The rest goes from now, not from when it was planned: quiet hours (and a local-time
    # schedule) are asked again for this moment, where each of them is.
    now, waiting = timezone.now(), Message.objects.filter(campaign=campaign, status=MessageStatus.WAITING)
    for zone in set(waiting.values_list("customer__timezone", flat=True)):
        waiting.filter(customer__timezone=zone).update(
            status=MessageStatus.PLANNED, variant=winner,
            send_after=send_after_for(campaign=campaign, timezone_name=zone, now=now),
        )  # fmt: skip
    transaction.on_commit(lambda: campaign_progress_publish(campaign=campaign))
    transaction.on_commit(lambda: campaign_sending_schedule(campaign_id=campaign.pk))
    return decision


def campaigns_due_run(*, now=None) -> None:
    """Beat's round: start scheduled campaigns whose time came, recover the claims of dead
    workers, decide winners whose test time is over, and queue senders for campaigns with
    rows due (a deferred row's time came, or a task was lost)."""
    now = now or timezone.now()
    for campaign in Campaign.objects.filter(state=CampaignState.SCHEDULED):
        if not campaign_waits_for_its_time(campaign=campaign, now=now):  # its time came, or its start task was lost
            campaign_start(campaign=campaign, now=now)
    claims_recover()
    sending = Campaign.objects.filter(state=CampaignState.SENDING)
    for campaign in sending.filter(experiment_mode=ExperimentMode.TEST_THEN_WINNER, winner__isnull=True):
        if campaign.started_at + timedelta(hours=campaign.test_hours) <= now:
            campaign_winner_decide(campaign=campaign)
    for campaign in sending:
        if campaign_due_count(campaign=campaign, now=now):
            campaign_sending_schedule(campaign_id=campaign.pk)
        else:
            campaign_finish_if_done(campaign=campaign)


def campaign_progress_publish(*, campaign: Campaign) -> None:
    """The campaign's counts to staff watching it (Channels); best effort, like the live events."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            campaign_progress_group(campaign.pk),
            {"type": "campaign.progress", "progress": campaign_progress(campaign=campaign)},
        )
    except Exception:  # the channel layer is a window on the ledger, never a reason to fail a send
        logger.warning("campaign %s: progress not published", campaign.pk, exc_info=True)


VARIANT_FIELDS = ("name", "template_version", "subject", "weight", "is_control")


@transaction.atomic
def campaign_save(
    *, campaign: Campaign, segments=None, excluded_segments=None, variants: list[dict] | None = None
) -> Campaign:
    """Create or change a draft campaign; `variants` ({name, template_version, subject, weight,
    is_control}) replaces its variants. A campaign that left draft is not changed."""
    if campaign.pk and Campaign.objects.filter(pk=campaign.pk).exclude(state=CampaignState.DRAFT).exists():
        raise _transition_refused(campaign, "changed")
    try:
        campaign.full_clean(exclude=["segments", "excluded_segments"], validate_unique=True)
    except DjangoValidationError as error:
        fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
        raise ValidationError(f"The campaign is invalid. {fields}", details=error.message_dict) from error
    campaign.save()
    if segments is not None:
        campaign.segments.set(segments)
    if excluded_segments is not None:
        campaign.excluded_segments.set(excluded_segments)
    if variants is not None:
        campaign.variants.all().delete()
        for fields in variants:
            unknown = set(fields) - set(VARIANT_FIELDS)
            if unknown:
                raise ValidationError(f"Variants have no field {', '.join(sorted(unknown))}.")
            Variant.objects.create(campaign=campaign, **fields)
    return campaign
