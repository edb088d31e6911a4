"""A campaign's life: draft, scheduled, sending, sent (or paused, or cancelled); what is
refused before it starts; its audience planned once; quiet hours and local-time sends that
defer rather than drop; and what the ESP's refusals and failures do to the ledger."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import (
    CampaignState,
    ExperimentMode,
    Message,
    MessageKind,
    MessageStatus,
    ScheduleMode,
    Variant,
)
from campaigns.sending.audience import campaign_plan
from campaigns.sending.batches import TransientSendError
from campaigns.services import (
    campaign_batches_send,
    campaign_cancel,
    campaign_pause,
    campaign_resume,
    campaign_send,
    campaign_start,
    campaigns_due_run,
)
from core.errors import Conflict, ValidationError
from tests.campaigns.support import (
    RefusingBackend,
    TimingOutBackend,
    UnavailableBackend,
    at,
    audience,
    campaign_to,
    campaign_version,
    on_commit_run,
    outbox_counts,
    plan,
    rows,
    send,
    statuses,
    subscriber,
    subscribers,
)
from tests.factories import CampaignFactory, VariantFactory

pytestmark = pytest.mark.django_db

PARIS, TOKYO, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")


def everyone_once(customers) -> Counter:
    return Counter({c.email: 1 for c in customers})


# --- draft, scheduled, sending, sent ------------------------------------------------------


def test_a_draft_sent_for_later_is_scheduled_and_nobody_is_planned_yet():
    campaign = campaign_to(subscribers(2), schedule_mode=ScheduleMode.AT, send_at=timezone.now() + timedelta(days=1))

    campaign = send(campaign)

    assert campaign.state == CampaignState.SCHEDULED
    assert not Message.objects.filter(campaign=campaign).exists()
    assert outbox_counts() == Counter()


def test_a_scheduled_campaign_starts_when_its_time_comes_and_ends_sent():
    people = subscribers(3)
    send_at = timezone.now() + timedelta(hours=6)
    campaign = send(campaign_to(people, schedule_mode=ScheduleMode.AT, send_at=send_at))

    with on_commit_run():
        campaigns_due_run(now=send_at - timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SCHEDULED

    with on_commit_run():
        campaigns_due_run(now=send_at)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENT
    assert campaign.planned_at == send_at
    assert outbox_counts() == everyone_once(people)


def test_a_campaign_is_sending_from_its_planning_until_its_last_row_is_done():
    people = subscribers(3)
    campaign = campaign_to(people)

    senders_run = plan(campaign)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING
    assert campaign.started_at is not None and campaign.finished_at is None
    assert set(statuses(campaign).values()) == {MessageStatus.PLANNED}

    senders_run()
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENT
    assert campaign.finished_at >= campaign.started_at
    assert set(statuses(campaign).values()) == {MessageStatus.SENT}
    assert outbox_counts() == everyone_once(people)


def test_a_campaign_that_is_not_a_draft_cannot_be_sent_again():
    campaign = send(campaign_to(subscribers(1)))

    with pytest.raises(Conflict) as refused:
        campaign_send(campaign=campaign)

    assert refused.value.message == "A sent campaign cannot be sent."


def test_only_members_of_a_segment_and_of_no_excluded_one_are_the_audience():
    kept, excluded = subscribers(2)
    outsider = subscriber()
    campaign = campaign_to([kept, excluded])
    campaign.excluded_segments.add(audience([excluded]))

    campaign = send(campaign)

    assert outbox_counts() == everyone_once([kept])
    assert set(statuses(campaign)) == {kept.pk}
    assert outsider.pk not in statuses(campaign)
    assert campaign.left_out == {}


def test_the_holdout_gets_nothing_and_the_campaign_is_sent_without_it():
    campaign = send(campaign_to(subscribers(40), holdout_percent=50))

    held = {pk for pk, status in statuses(campaign).items() if status == MessageStatus.HELD_OUT}
    assert held, "half of 40 are held out"
    assert set(statuses(campaign).values()) == {MessageStatus.SENT, MessageStatus.HELD_OUT}
    assert sum(outbox_counts().values()) == 40 - len(held)
    assert campaign.state == CampaignState.SENT


# --- pause, resume, cancel -----------------------------------------------------------------


@pytest.fixture
def pausing(settings):
    """Staff pause the campaign right after its first message has gone."""
    settings.EMAIL_BACKEND = "tests.campaigns.support.PausingBackend"


def test_a_pause_stops_further_batches_and_what_is_planned_stays_planned(settings, pausing):
    settings.CAMPAIGN_BATCH_SIZE = 2
    campaign = send(campaign_to(subscribers(6)))

    assert campaign.state == CampaignState.PAUSED
    assert Counter(statuses(campaign).values()) == {MessageStatus.SENT: 2, MessageStatus.PLANNED: 4}
    assert sum(outbox_counts().values()) == 2


def test_a_pause_during_a_batch_stops_it_at_its_next_look_and_gives_back_the_rest(pausing):
    campaign = send(campaign_to(subscribers(60)))  # one batch of 60; a look every 50 messages

    assert campaign.state == CampaignState.PAUSED
    assert Counter(statuses(campaign).values()) == {MessageStatus.SENT: 50, MessageStatus.PLANNED: 10}
    given_back = Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED)
    assert set(given_back.values_list("claim", "claim_order", "personalized")) == {("", None, None)}


def test_resuming_a_paused_campaign_sends_the_rest_once_and_finishes(settings, pausing):
    settings.CAMPAIGN_BATCH_SIZE = 2
    people = subscribers(6)
    campaign = send(campaign_to(people))
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"

    with on_commit_run():
        campaign = campaign_resume(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENT
    assert set(statuses(campaign).values()) == {MessageStatus.SENT}
    assert outbox_counts() == everyone_once(people)


def test_only_a_sending_campaign_can_be_paused_and_only_a_paused_one_resumed():
    draft = campaign_to(subscribers(1))
    with pytest.raises(Conflict, match=r"A draft campaign cannot be paused\."):
        campaign_pause(campaign=draft)
    plan(draft)
    draft.refresh_from_db()
    with pytest.raises(Conflict, match=r"A sending campaign cannot be resumed\."):
        campaign_resume(campaign=draft)


def test_cancelling_cancels_every_planned_row_and_nothing_more_is_sent():
    campaign = campaign_to(subscribers(4))
    senders_run = plan(campaign)

    campaign = campaign_cancel(campaign=campaign)
    senders_run()

    assert campaign.state == CampaignState.CANCELLED
    assert campaign.finished_at is not None
    assert set(statuses(campaign).values()) == {MessageStatus.CANCELLED}
    assert outbox_counts() == Counter()


def test_cancelling_a_test_then_winner_campaign_cancels_those_waiting_for_the_winner():
    campaign = send(campaign_to(subscribers(40), variants={"A": 1, "B": 1}, experiment_mode="test_then_winner",
                                test_percent=50))  # fmt: skip
    sent, waiting = (Counter(statuses(campaign).values())[s] for s in (MessageStatus.SENT, MessageStatus.WAITING))
    assert waiting > 0

    campaign_cancel(campaign=campaign)

    assert Counter(statuses(campaign).values()) == {MessageStatus.SENT: sent, MessageStatus.CANCELLED: waiting}


def test_a_sent_campaign_cannot_be_cancelled():
    campaign = send(campaign_to(subscribers(1)))

    with pytest.raises(Conflict, match=r"A sent campaign cannot be cancelled\."):
        campaign_cancel(campaign=campaign)


# --- refused before it starts -----------------------------------------------------------------


def no_segment():
    return VariantFactory(campaign=CampaignFactory(), name="A").campaign


def no_variant():
    return CampaignFactory(segments=[audience(subscribers(1))])


def two_variants_and_no_control():
    campaign = campaign_to(subscribers(1), variants={"A": 1, "B": 1})
    Variant.objects.filter(campaign=campaign).update(is_control=False)
    return campaign


def transactional_template():
    return campaign_to(subscribers(1), version=campaign_version(kind=MessageKind.TRANSACTIONAL))


def one_variant_to_test():
    return campaign_to(subscribers(1), experiment_mode=ExperimentMode.TEST_THEN_WINNER)


def at_no_time():
    return campaign_to(subscribers(1), schedule_mode=ScheduleMode.AT)


def local_time_without_an_hour():
    return campaign_to(subscribers(1), schedule_mode=ScheduleMode.LOCAL_TIME)


def a_subject_that_does_not_parse():
    campaign = campaign_to(subscribers(1))
    Variant.objects.filter(campaign=campaign).update(subject="Hello {{ customer.first_name ")
    return campaign


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (no_segment, "Choose at least one segment as the audience."),
        (no_variant, "Add at least one variant with a template version."),
        (two_variants_and_no_control, "Mark one variant as control: results and winners are measured"),
        (transactional_template, "Campaigns send marketing templates only"),
        (one_variant_to_test, "A test-then-winner campaign needs at least two variants."),
        (at_no_time, "Give the time to send at (send_at)."),
        (local_time_without_an_hour, "Give the hour of each recipient's day to send at (local_hour, 0-23)."),
        (a_subject_that_does_not_parse, "Variant A's subject: "),
    ],
)
def test_a_campaign_that_cannot_be_sent_is_refused_saying_what_to_fix(build, problem):
    campaign = build()

    with pytest.raises(ValidationError) as refused:
        campaign_send(campaign=campaign)

    assert problem in refused.value.message
    assert any(p.startswith(problem) for p in refused.value.details["problems"])
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT
    assert not Message.objects.filter(campaign=campaign).exists()


def test_every_problem_is_said_at_once():
    campaign = CampaignFactory(schedule_mode=ScheduleMode.AT)

    with pytest.raises(ValidationError) as refused:
        campaign_send(campaign=campaign)

    assert len(refused.value.details["problems"]) == 3


def test_a_second_control_is_refused_by_the_database_itself():
    campaign = campaign_to(subscribers(1), variants={"A": 1})

    with pytest.raises(IntegrityError), transaction.atomic():
        VariantFactory(campaign=campaign, name="B", is_control=True)


# --- planned once -------------------------------------------------------------------------


def test_planning_twice_plans_each_person_once():
    people = subscribers(5)
    campaign = campaign_to(people)
    now = timezone.now()

    first = campaign_plan(campaign=campaign, now=now)
    second = campaign_plan(campaign=campaign, now=now)

    assert first == second == Counter()
    assert Message.objects.filter(campaign=campaign).count() == 5
    assert set(statuses(campaign)) == {c.pk for c in people}


def test_the_ledger_refuses_a_second_row_for_the_same_campaign_and_person():
    customer = subscriber()
    campaign = campaign_to([customer])
    plan(campaign)

    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(campaign=campaign, customer=customer, kind=MessageKind.MARKETING)


def test_starting_a_campaign_that_is_already_sending_plans_nothing_more():
    campaign = campaign_to(subscribers(3))
    plan(campaign)
    campaign.refresh_from_db()
    planned = set(Message.objects.filter(campaign=campaign).values_list("pk", "created_at"))

    with on_commit_run():
        again = campaign_start(campaign=campaign, now=timezone.now() + timedelta(minutes=5))

    assert (again.state, again.planned_at) == (CampaignState.SENDING, campaign.planned_at)
    assert set(Message.objects.filter(campaign=campaign).values_list("pk", "created_at")) == planned
    assert outbox_counts() == Counter(), "its senders were queued when it started, not again"


# --- quiet hours and local time -------------------------------------------------------------


def test_quiet_hours_defer_a_send_to_when_they_end_where_the_recipient_is(settings):
    settings.QUIET_HOURS = (21, 8)
    paris, tokyo, new_york = (subscriber(timezone=zone.key) for zone in (PARIS, TOKYO, NEW_YORK))
    evening = datetime(2030, 1, 15, 21, 30, tzinfo=UTC)  # 22:30 in Paris, 06:30 in Tokyo, 16:30 in New York

    with at(evening):
        campaign = send(campaign_to([paris, tokyo, new_york]))

    planned = rows(campaign)
    assert planned[paris.pk].send_after == datetime(2030, 1, 16, 8, 0, tzinfo=PARIS)
    assert planned[tokyo.pk].send_after == datetime(2030, 1, 16, 8, 0, tzinfo=TOKYO)
    assert planned[new_york.pk].send_after is None
    assert statuses(campaign) == {paris.pk: MessageStatus.PLANNED, tokyo.pk: MessageStatus.PLANNED,
                                  new_york.pk: MessageStatus.SENT}  # fmt: skip
    assert outbox_counts() == everyone_once([new_york])
    assert campaign.left_out == {}, "deferred, not dropped"
    assert campaign.state == CampaignState.SENDING


def test_a_deferred_send_goes_when_its_time_comes(settings):
    settings.QUIET_HOURS = (21, 8)
    paris, tokyo = subscriber(timezone=PARIS.key), subscriber(timezone=TOKYO.key)
    with at(datetime(2030, 1, 15, 21, 30, tzinfo=UTC)):
        campaign = send(campaign_to([paris, tokyo]))

    with at(datetime(2030, 1, 16, 8, 0, 15, tzinfo=TOKYO)), on_commit_run():
        campaigns_due_run()
    assert statuses(campaign) == {paris.pk: MessageStatus.PLANNED, tokyo.pk: MessageStatus.SENT}

    with at(datetime(2030, 1, 16, 8, 0, 15, tzinfo=PARIS)), on_commit_run():
        campaigns_due_run()
    campaign.refresh_from_db()
    assert statuses(campaign) == {paris.pk: MessageStatus.SENT, tokyo.pk: MessageStatus.SENT}
    assert campaign.state == CampaignState.SENT
    assert outbox_counts() == everyone_once([paris, tokyo])


def test_a_local_time_send_goes_at_that_hour_of_each_recipients_day():
    paris, new_york = subscriber(timezone=PARIS.key), subscriber(timezone=NEW_YORK.key)
    day = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)

    with at(datetime(2030, 6, 2, 12, 0, tzinfo=UTC)):
        campaign = send(campaign_to([paris, new_york], schedule_mode=ScheduleMode.LOCAL_TIME, send_at=day,
                                    local_hour=10))  # fmt: skip

    planned = rows(campaign)
    assert planned[paris.pk].send_after == datetime(2030, 6, 3, 10, 0, tzinfo=PARIS)  # 08:00 UTC
    assert planned[new_york.pk].send_after == datetime(2030, 6, 3, 10, 0, tzinfo=NEW_YORK)  # 14:00 UTC
    assert outbox_counts() == Counter()

    with at(datetime(2030, 6, 3, 9, 0, tzinfo=UTC)), on_commit_run():
        campaigns_due_run()
    assert statuses(campaign) == {paris.pk: MessageStatus.SENT, new_york.pk: MessageStatus.PLANNED}


def test_a_local_time_send_whose_hour_has_passed_where_they_are_goes_the_next_day():
    paris, new_york = subscriber(timezone=PARIS.key), subscriber(timezone=NEW_YORK.key)
    day = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)

    with at(datetime(2030, 6, 3, 9, 0, tzinfo=UTC)):  # 11:00 in Paris, 05:00 in New York
        campaign = send(campaign_to([paris, new_york], schedule_mode=ScheduleMode.LOCAL_TIME, send_at=day,
                                    local_hour=10))  # fmt: skip

    planned = rows(campaign)
    assert planned[paris.pk].send_after == datetime(2030, 6, 4, 10, 0, tzinfo=PARIS)
    assert planned[new_york.pk].send_after == datetime(2030, 6, 3, 10, 0, tzinfo=NEW_YORK)


# --- when the ESP says no ---------------------------------------------------------------------


def test_a_permanent_refusal_fails_that_row_with_the_reason_and_the_batch_goes_on(settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.campaigns.support.RefusingBackend"
    refused, *others = subscribers(3)
    monkeypatch.setattr(RefusingBackend, "refused", frozenset({refused.email}))

    campaign = send(campaign_to([refused, *others]))

    row = rows(campaign)[refused.pk]
    assert row.status == MessageStatus.FAILED
    assert row.failure.startswith("refused: All message recipients were rejected or invalid")
    assert row.sent_at is None
    assert {statuses(campaign)[c.pk] for c in others} == {MessageStatus.SENT}
    assert outbox_counts() == everyone_once(others)
    assert campaign.state == CampaignState.SENT


@pytest.fixture
def unavailable(settings, monkeypatch):
    """The ESP takes two messages, then answers 503 until it is back."""
    settings.EMAIL_BACKEND = "tests.campaigns.support.UnavailableBackend"
    monkeypatch.setattr(UnavailableBackend, "accepts", 2)

    def back():
        monkeypatch.setattr(UnavailableBackend, "accepts", 1_000)

    return back


def test_a_transient_esp_error_gives_the_rest_back_to_the_plan_and_says_try_again(unavailable):
    people = subscribers(5)
    campaign = campaign_to(people)
    plan(campaign)

    with pytest.raises(TransientSendError, match="Service unavailable"):
        campaign_batches_send(campaign_id=campaign.pk)

    assert [statuses(campaign)[c.pk] for c in people] == [MessageStatus.SENT] * 2 + [MessageStatus.PLANNED] * 3
    rest = Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED)
    assert set(rest.values_list("claim", "failure")) == {("", "")}
    assert outbox_counts() == everyone_once(people[:2])


def test_after_a_transient_error_the_rest_is_sent_once_when_the_esp_is_back(unavailable):
    people = subscribers(5)
    campaign = campaign_to(people)
    plan(campaign)
    with pytest.raises(TransientSendError):
        campaign_batches_send(campaign_id=campaign.pk)

    unavailable()
    sent = campaign_batches_send(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert sent == 3
    assert outbox_counts() == everyone_once(people)
    assert campaign.state == CampaignState.SENT


def test_a_timeout_leaves_that_row_in_doubt_never_sent_again_and_gives_back_the_rest(settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.campaigns.support.TimingOutBackend"
    monkeypatch.setattr(TimingOutBackend, "accepts", 1)
    first, doubted, *rest = people = subscribers(4)
    campaign = campaign_to(people)
    plan(campaign)

    with pytest.raises(TransientSendError):
        campaign_batches_send(campaign_id=campaign.pk)
    row = rows(campaign)[doubted.pk]
    assert row.status == MessageStatus.IN_DOUBT
    assert row.failure.startswith("no answer from the ESP")
    assert {statuses(campaign)[c.pk] for c in rest} == {MessageStatus.PLANNED}

    monkeypatch.setattr(TimingOutBackend, "accepts", 1_000)
    campaign_batches_send(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert statuses(campaign)[doubted.pk] == MessageStatus.IN_DOUBT
    assert outbox_counts() == everyone_once([first, *rest])
    assert campaign.state == CampaignState.SENT
