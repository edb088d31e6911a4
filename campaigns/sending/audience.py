"""A campaign's audience at send time, planned into the sending ledger.

The audience is the members of any of its segments and none of its excluded ones. Each
is then asked, in one query per rule for everyone: consent (`consent.selectors`, which
also holds suppression and pauses), their own frequency preference, and the global cap
on marketing email. Who remains gets a ledger row (`Message`) under the unique
(campaign, customer) constraint, so planning twice plans once; those left out are
counted by reason on the campaign. The holdout and, in a test-then-winner experiment,
the rest waiting for the winner get rows too: results compare against them.

Quiet hours and local-time schedules defer a row (`send_after`), never drop it.
"""

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Max, Q

from campaigns.experiments.assignment import assignment_for
from campaigns.models import AudienceGroup, Campaign, ExperimentMode, Message, MessageKind, MessageStatus, ScheduleMode
from consent.models import Frequency
from consent.selectors import email_frequencies, email_refusals
from core.db import rows_insert_new
from personalization.models import Customer
from personalization.segments.selectors import segment_member_ids

FREQUENCY_GAPS = {Frequency.DAILY: timedelta(days=1), Frequency.WEEKLY: timedelta(days=7),
                  Frequency.MONTHLY: timedelta(days=30)}  # fmt: skip
OVER_PREFERENCE = "over_own_frequency"
OVER_CAP = "over_frequency_cap"
PLAN_CHUNK = 5_000


def campaign_audience_ids(*, campaign: Campaign) -> list[int]:
    """Members of any of the campaign's segments and none of its excluded ones, by id."""
    included = {c for segment in campaign.segments.all() for c in segment_member_ids(segment=segment)}
    excluded = {c for segment in campaign.excluded_segments.all() for c in segment_member_ids(segment=segment)}
    return sorted(included - excluded)


def _marketing_sent(
    customer_ids: list[int], *, since: datetime, counted_since: datetime
) -> tuple[dict[int, int], dict[int, datetime]]:
    """Marketing email sent to each customer since `since`, in one read: how many since
    `counted_since` (the cap's window), and the last one (for their own frequency)."""
    sent = Message.objects.filter(
        customer_id__any_of=customer_ids, kind=MessageKind.MARKETING, status=MessageStatus.SENT, sent_at__gte=since
    )
    counted = Count("id", filter=Q(sent_at__gte=counted_since))
    counts, last = {}, {}
    for customer_id, count, latest in (
        sent.values("customer_id").annotate(n=counted, last=Max("sent_at")).values_list("customer_id", "n", "last")
    ):
        counts[customer_id], last[customer_id] = count, latest
    return counts, last


def frequency_over(*, customer_ids: list[int], now: datetime) -> dict[int, str]:
    """Who would get more marketing email than they chose, or than the shop's cap allows."""
    cap, window = settings.MARKETING_CAP_MESSAGES, timedelta(days=settings.MARKETING_CAP_DAYS)
    longest = max([window, *FREQUENCY_GAPS.values()])
    recent, last = _marketing_sent(customer_ids, since=now - longest, counted_since=now - window)
    over = {}
    for customer_id, frequency in email_frequencies(customer_ids=customer_ids).items():
        if customer_id in last and now - last[customer_id] < FREQUENCY_GAPS[frequency]:
            over[customer_id] = OVER_PREFERENCE
    for customer_id, count in recent.items():
        if cap and count >= cap and customer_id not in over:
            over[customer_id] = OVER_CAP
    return over


def _quiet_until(moment: datetime, zone: ZoneInfo) -> datetime | None:
    """When quiet hours end, if `moment` falls in them where the recipient is."""
    start, end = settings.QUIET_HOURS
    if start == end:
        return None
    local = moment.astimezone(zone)
    quiet = (local.hour >= start or local.hour < end) if start > end else start <= local.hour < end
    if not quiet:
        return None
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), tzinfo=zone)


def _send_after(campaign: Campaign, zone: ZoneInfo, now: datetime) -> datetime | None:
    moment = now
    if campaign.schedule_mode == ScheduleMode.LOCAL_TIME:
        day = (campaign.send_at or now).astimezone(zone).date()
        moment = datetime.combine(day, time(campaign.local_hour or 0), tzinfo=zone)
        if moment < now:  # that hour has passed where they are: the next day's
            moment += timedelta(days=1)
    deferred = _quiet_until(moment, zone)
    later = deferred or moment
    return later if later > now else None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def send_after_for(*, campaign: Campaign, timezone_name: str, now: datetime) -> datetime | None:
    """Not before when a row of the campaign may go to someone in this time zone, from `now`
    (None: at once). A test's winner asks it again for the rows that waited for it."""
    return _send_after(campaign, _zone(timezone_name), now)


def campaign_plan(*, campaign: Campaign, now: datetime) -> Counter:
    """Write the campaign's ledger rows for its audience now; return {reason: people} left out."""
    audience = campaign_audience_ids(campaign=campaign)
    topic = campaign.topic.slug if campaign.topic_id else None
    variants = [(v.pk, v.weight) for v in campaign.variants.all()]
    test_percent = campaign.test_percent if campaign.experiment_mode == ExperimentMode.TEST_THEN_WINNER else None
    left_out: Counter = Counter()
    for start in range(0, len(audience), PLAN_CHUNK):
        chunk = audience[start : start + PLAN_CHUNK]
        refused = email_refusals(customers=Customer.objects.filter(pk__any_of=chunk), topic=topic)
        allowed = [c for c in chunk if c not in refused]
        over = frequency_over(customer_ids=allowed, now=now)
        left_out.update(refused.values())
        left_out.update(over.values())
        zones = dict(Customer.objects.filter(pk__any_of=allowed).values_list("pk", "timezone"))
        rows = []
        for customer_id in allowed:
            if customer_id in over:
                continue
            assignment = assignment_for(
                campaign_id=campaign.pk, customer_id=customer_id, variants=variants,
                holdout_percent=campaign.holdout_percent, test_percent=test_percent,
            )  # fmt: skip
            status = (
                MessageStatus.HELD_OUT if assignment.group == AudienceGroup.HOLDOUT
                else MessageStatus.WAITING if assignment.variant_id is None
                else MessageStatus.PLANNED
            )  # fmt: skip
            send_after = _send_after(campaign, _zone(zones.get(customer_id, "UTC")), now)
            rows.append(Message(campaign_id=campaign.pk, customer_id=customer_id, kind=MessageKind.MARKETING,
                                status=status, audience_group=assignment.group, variant_id=assignment.variant_id,
                                send_after=send_after))  # fmt: skip
        rows_insert_new(Message, rows)  # a row planned already stays as it is: planning twice plans once
    return left_out
