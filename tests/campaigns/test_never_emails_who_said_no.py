"""A campaign never emails someone who said no: whatever the mix of consent, suppression,
pauses, frequency preferences and the shop's cap, the people who may be emailed get exactly
one message and nobody else gets any, and the campaign says why each person was left out."""

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import CampaignState, Message, MessageKind, MessageStatus
from consent.models import ConsentSource, Frequency, Purpose, SuppressionReason, Topic
from consent.services import consent_grant, consent_withdraw, preferences_change, suppression_add, unsubscribe
from personalization.models import Customer
from tests.campaigns.support import (
    campaign_to,
    campaign_version,
    outbox_counts,
    plan,
    rolled_back,
    send,
    statuses,
    subscribers,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

WHO = {"source": ConsentSource.API, "actor": "tests"}
CAP, CAP_DAYS = 2, 7  # at most 2 marketing emails in 7 days
GAPS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7, Frequency.MONTHLY: 30}
TOPIC = "newsletter"


@dataclass(frozen=True)
class Person:
    has_email: bool
    email_marketing: str | None  # "granted", "withdrawn", None: never asked
    topic: str | None  # the same, for the newsletter
    suppressed: bool
    paused: bool
    frequency: str
    sent_days_ago: tuple[float, ...]  # marketing email they already got

    def left_out_because(self, topic: str | None) -> str | None:
        """Why they may not get the campaign, by the rules as documented, in the order asked."""
        if not self.has_email:
            return "no_address"
        if self.suppressed:
            return "suppressed"
        if self.email_marketing != "granted":
            return "no_consent"
        if topic is not None and self.topic != "granted":
            return "topic_not_chosen"
        if self.paused:
            return "paused"
        gap = GAPS.get(self.frequency)
        if gap and any(days < gap for days in self.sent_days_ago):
            return "over_own_frequency"
        if sum(days < CAP_DAYS for days in self.sent_days_ago) >= CAP:
            return "over_frequency_cap"
        return None


def mostly(value, *others):
    """Mostly `value`, sometimes one of the others: enough people may be emailed to matter."""
    return st.sampled_from([value] * 4 + list(others))


# No day is on a boundary (1, 7, 30): a rule either clearly holds or clearly does not.
people = st.lists(
    st.builds(
        Person,
        has_email=mostly(True, False),
        email_marketing=mostly("granted", "withdrawn", None),
        topic=mostly("granted", "withdrawn", None),
        suppressed=mostly(False, True),
        paused=mostly(False, True),
        frequency=mostly(Frequency.ANY, Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY),
        sent_days_ago=st.lists(st.sampled_from([0.5, 2, 3, 5, 10, 40]), max_size=4).map(tuple),
    ),
    min_size=3,
    max_size=10,
)


def decide(customer: Customer, purpose_decision: str | None, topic: str | None = None) -> None:
    if purpose_decision is None:
        return
    consent_grant(customer=customer, purpose=Purpose.EMAIL_MARKETING, topic=topic, **WHO)
    if purpose_decision == "withdrawn":
        consent_withdraw(customer=customer, purpose=Purpose.EMAIL_MARKETING, topic=topic, **WHO)


def customer_as(person: Person) -> Customer:
    customer = CustomerFactory() if person.has_email else CustomerFactory(email="")
    if person.has_email:
        decide(customer, person.email_marketing)
        decide(customer, person.topic, topic=TOPIC)
        if person.suppressed:
            suppression_add(email=customer.email, reason=SuppressionReason.MANUAL)
    preferences_change(customer=customer, proof={}, frequency=person.frequency,
                       pause_days=30 if person.paused else None, **WHO)  # fmt: skip
    now = timezone.now()
    Message.objects.bulk_create(
        Message(customer=customer, kind=MessageKind.MARKETING, status=MessageStatus.SENT,
                sent_at=now - timedelta(days=days))
        for days in person.sent_days_ago
    )  # fmt: skip
    return customer


@pytest.fixture
def version():
    return campaign_version()


@pytest.fixture
def cap(settings):
    settings.MARKETING_CAP_MESSAGES, settings.MARKETING_CAP_DAYS = CAP, CAP_DAYS


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crowd=people, with_topic=st.booleans())
def test_only_people_who_may_be_emailed_get_the_campaign_and_each_exactly_once(version, cap, crowd, with_topic):
    topic = TOPIC if with_topic else None
    with rolled_back():
        mail.outbox = []
        customers = [customer_as(person) for person in crowd]
        reasons = {c.pk: person.left_out_because(topic) for c, person in zip(customers, crowd, strict=True)}
        allowed = {c.pk for c in customers if reasons[c.pk] is None}

        campaign = send(campaign_to(customers, version=version, topic=Topic.objects.filter(slug=topic).first()))

        assert outbox_counts() == Counter({c.email: 1 for c in customers if c.pk in allowed})
        sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT)
        assert set(sent.values_list("customer_id", flat=True)) == allowed
        assert set(statuses(campaign)) == allowed, "nobody left out has a row that could be sent later"
        assert campaign.left_out == dict(Counter(r for r in reasons.values() if r is not None))
        assert campaign.state == CampaignState.SENT


# --- a change of mind between planning and sending ---------------------------------------


def withdraw(customer):
    consent_withdraw(customer=customer, purpose=Purpose.EMAIL_MARKETING, **WHO)


def suppress(customer):
    suppression_add(email=customer.email, reason=SuppressionReason.HARD_BOUNCE)


def pause(customer):
    preferences_change(customer=customer, proof={}, pause_days=14, **WHO)


def leave_the_topic(customer):
    unsubscribe(customer=customer, topic=TOPIC, proof={}, **{**WHO, "source": ConsentSource.UNSUBSCRIBE_LINK})


@pytest.mark.parametrize("change_of_mind", [withdraw, suppress, pause, leave_the_topic])
def test_a_no_said_after_planning_is_honoured_by_the_batch(change_of_mind):
    stays, leaves = subscribers(2, topic=TOPIC)
    campaign = campaign_to([stays, leaves], topic=Topic.objects.get(slug=TOPIC))
    senders_run = plan(campaign)
    assert statuses(campaign) == {stays.pk: MessageStatus.PLANNED, leaves.pk: MessageStatus.PLANNED}

    change_of_mind(leaves)
    senders_run()

    assert outbox_counts() == Counter({stays.email: 1})
    row = Message.objects.get(campaign=campaign, customer=leaves)
    assert row.status == MessageStatus.SKIPPED
    assert "consent" in row.failure
    assert statuses(campaign)[stays.pk] == MessageStatus.SENT
