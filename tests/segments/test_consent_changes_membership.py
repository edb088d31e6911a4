"""Consent rules follow consent in real time: a decision recorded, an address suppressed or
a pause chosen re-checks the person's segments at once, with no event needed."""

import uuid

import pytest
from django.utils import timezone

from consent.models import ConsentSource, Purpose, SuppressionReason
from consent.services import (
    consent_grant,
    consent_withdraw,
    preferences_change,
    suppression_add,
    suppression_lift,
)
from personalization.models import Segment, SegmentMembership
from personalization.segments.services import segment_save
from tests.factories import CustomerFactory
from tracking.models import Event, EventType
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db

MAY_BE_EMAILED = {"type": "consent", "purpose": "email_marketing"}
WANTS_OFFERS = {"type": "consent", "purpose": "email_marketing", "topic": "offers"}
WHO = {"source": ConsentSource.API, "actor": "tests"}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a consent change as its own transaction would: its announcement goes out on commit."""

    def committed(change, **arguments):
        with django_capture_on_commit_callbacks(execute=True):
            return change(**arguments)

    return committed


@pytest.fixture
def emailable(committed) -> Segment:
    return committed(segment_save, name="May be emailed", rules=MAY_BE_EMAILED)


def is_member(segment: Segment, customer) -> bool:
    return SegmentMembership.objects.filter(segment=segment, customer=customer, exited_at__isnull=True).exists()


def grant(committed, customer, **extra):
    committed(consent_grant, customer=customer, purpose=Purpose.EMAIL_MARKETING, **WHO, **extra)


def test_a_customer_who_never_decided_is_not_a_member(emailable):
    customer = CustomerFactory()

    assert not is_member(emailable, customer)


def test_granting_consent_makes_the_customer_a_member_at_once(emailable, committed):
    customer = CustomerFactory()

    grant(committed, customer)

    assert is_member(emailable, customer)


def test_no_tracked_event_is_needed_for_consent_to_change_membership(emailable, committed):
    customer = CustomerFactory()

    grant(committed, customer)

    assert not Event.objects.filter(customer=customer).exclude(type=EventType.SEGMENT_ENTERED).exists()
    assert Event.objects.get(customer=customer, type=EventType.SEGMENT_ENTERED).properties["segment_id"] == emailable.pk


def test_withdrawing_consent_makes_the_customer_leave_at_once(emailable, committed):
    customer = CustomerFactory()
    grant(committed, customer)

    committed(consent_withdraw, customer=customer, purpose=Purpose.EMAIL_MARKETING, **WHO)

    assert not is_member(emailable, customer)
    assert SegmentMembership.objects.get(segment=emailable, customer=customer).exited_at is not None


def test_suppressing_the_address_makes_the_customer_leave_at_once(emailable, committed):
    customer = CustomerFactory(email="ada@example.com")
    grant(committed, customer)

    committed(suppression_add, email="Ada@Example.com", reason=SuppressionReason.HARD_BOUNCE)

    assert not is_member(emailable, customer)


def test_lifting_a_suppression_brings_a_consenting_customer_back(emailable, committed):
    customer = CustomerFactory()
    grant(committed, customer)
    committed(suppression_add, email=customer.email, reason=SuppressionReason.UNSUBSCRIBE)

    committed(suppression_lift, email=customer.email, reasons=(SuppressionReason.UNSUBSCRIBE,))

    assert is_member(emailable, customer)
    assert SegmentMembership.objects.filter(segment=emailable, customer=customer).count() == 2


def test_pausing_email_makes_the_customer_leave_and_resuming_brings_them_back(emailable, committed):
    customer = CustomerFactory()
    grant(committed, customer)

    committed(preferences_change, customer=customer, pause_days=30, proof={}, **WHO)
    assert not is_member(emailable, customer)

    committed(preferences_change, customer=customer, resume=True, proof={}, **WHO)
    assert is_member(emailable, customer)


def test_only_the_customer_whose_consent_changed_is_rechecked(emailable, committed):
    changed, other = CustomerFactory(), CustomerFactory()
    grant(committed, other)
    SegmentMembership.objects.filter(segment=emailable, customer=other).delete()  # as if missed

    grant(committed, changed)

    assert is_member(emailable, changed)
    assert not is_member(emailable, other)


def test_a_topic_rule_follows_the_topic_decision(committed):
    offers = committed(segment_save, name="Wants offers", rules=WANTS_OFFERS)
    customer = CustomerFactory()
    grant(committed, customer)
    assert not is_member(offers, customer)

    grant(committed, customer, topic="offers")
    assert is_member(offers, customer)

    committed(consent_withdraw, customer=customer, purpose=Purpose.EMAIL_MARKETING, topic="offers", **WHO)
    assert not is_member(offers, customer)


def test_segments_without_consent_rules_are_not_touched_by_consent_changes(emailable, committed):
    viewers = committed(segment_save, name="Viewers", rules={"type": "event", "event": "Product Viewed"})
    customer = CustomerFactory()

    grant(committed, customer)

    assert is_member(emailable, customer)
    assert not SegmentMembership.objects.filter(segment=viewers).exists()


def test_an_inactive_consent_segment_does_not_follow_consent(committed):
    paused = committed(segment_save, name="Inactive consent", rules=MAY_BE_EMAILED, is_active=False)
    customer = CustomerFactory()

    grant(committed, customer)

    assert not is_member(paused, customer)


def test_the_member_count_follows_consent(emailable, committed):
    first, second = CustomerFactory(), CustomerFactory()
    grant(committed, first)
    grant(committed, second)
    committed(consent_withdraw, customer=first, purpose=Purpose.EMAIL_MARKETING, **WHO)

    emailable.refresh_from_db()
    assert emailable.member_count == 1


def test_an_identify_changing_the_address_to_a_suppressed_one_makes_the_customer_leave(
    emailable, committed, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    grant(committed, customer)
    committed(suppression_add, email="bounced@example.com", reason=SuppressionReason.HARD_BOUNCE)
    assert is_member(emailable, customer)

    identify = EventDraft(message_id=str(uuid.uuid4()), type=EventType.IDENTIFY, occurred_at=timezone.now(),
                          customer_id=customer.pk, properties={"email": "bounced@example.com"})  # fmt: skip
    events_store(drafts=[identify])
    with django_capture_on_commit_callbacks(execute=True):
        events_process()

    assert not is_member(emailable, customer)
