"""consent.selectors is the one place that decides; every rule is checked here against the ledger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentSource, PreferenceChange, Purpose, SuppressionReason
from consent.selectors import (
    can_email,
    can_personalize,
    can_track,
    customers_consenting,
    customers_emailable,
)
from consent.services import consent_withdraw, preferences_change, suppression_add, tracking_stop_for_gpc
from personalization.models import Customer
from tests.consent.conftest import grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def withdraw(customer, purpose=Purpose.EMAIL_MARKETING, topic=None):
    return consent_withdraw(
        customer=customer, purpose=purpose, topic=topic, source=ConsentSource.API, actor="tests", proof={}
    )


def pause_that_ended(customer):
    """A pause recorded two weeks ago for a week."""
    PreferenceChange.objects.create(
        customer=customer,
        paused_until=timezone.now() - timedelta(days=7),
        source=ConsentSource.PREFERENCE_CENTER,
        actor="person",
        recorded_at=timezone.now() - timedelta(days=14),
    )


def test_marketing_email_needs_a_recorded_yes(customer):
    assert not can_email(customer)
    grant(customer)
    assert can_email(customer)


def test_a_topic_needs_its_own_yes(customer):
    grant(customer)
    assert not can_email(customer, "offers")
    grant(customer, topic="offers")
    assert can_email(customer, "offers")
    assert not can_email(customer, "newsletter")


def test_a_withdrawal_blocks_at_once(subscribed):
    assert can_email(subscribed, "offers")
    withdraw(subscribed)
    assert not can_email(subscribed)
    assert not can_email(subscribed, "offers")


def test_the_latest_decision_wins(customer):
    grant(customer)
    withdraw(customer)
    grant(customer)
    assert can_email(customer)


def test_withdrawing_a_topic_keeps_the_others(subscribed):
    withdraw(subscribed, topic="offers")
    assert not can_email(subscribed, "offers")
    assert can_email(subscribed, "newsletter")


def test_a_suppressed_address_gets_no_marketing_email_whatever_the_ledger_says(subscribed):
    suppression_add(email="  ADA@example.com ", reason=SuppressionReason.HARD_BOUNCE)
    assert not can_email(subscribed, "newsletter")


def test_a_pause_blocks_email_until_it_ends(subscribed):
    preferences_change(customer=subscribed, pause_days=7, source="api", actor="tests", proof={})
    assert not can_email(subscribed)
    preferences_change(customer=subscribed, resume=True, source="api", actor="tests", proof={})
    assert can_email(subscribed)


def test_a_customer_without_an_address_cannot_be_emailed():
    customer = CustomerFactory(email="")
    assert not can_email(customer)


def test_an_unknown_or_erased_person_gets_no_yes():
    assert not can_email(None)
    assert not can_personalize(None)
    assert not can_track(Customer(email="ghost@example.com"))


def test_under_opt_in_tracking_and_personalization_need_a_yes(customer, settings):
    settings.CONSENT_REGIME = "opt-in"
    assert not can_track(customer) and not can_personalize(customer)
    grant(customer, Purpose.TRACKING)
    grant(customer, Purpose.PERSONALIZATION)
    assert can_track(customer) and can_personalize(customer)


def test_under_opt_out_they_are_allowed_until_the_person_says_no(customer, settings):
    settings.CONSENT_REGIME = "opt-out"
    assert can_track(customer) and can_personalize(customer)
    withdraw(customer, Purpose.TRACKING)
    assert not can_track(customer) and can_personalize(customer)


def test_marketing_email_needs_a_yes_even_under_opt_out(customer, settings):
    settings.CONSENT_REGIME = "opt-out"
    assert not can_email(customer)


def test_a_gpc_signal_refuses_tracking_for_its_request(customer):
    grant(customer, Purpose.TRACKING)
    assert can_track(customer) and not can_track(customer, gpc=True)


def test_a_gpc_signal_opts_the_linked_profile_out_of_tracking(customer):
    grant(customer, Purpose.TRACKING)
    assert tracking_stop_for_gpc(customer=customer, proof={"ip": "203.0.113.7"})
    assert not can_track(customer)
    record = customer.consent_records.first()
    assert (record.source, record.decision) == (ConsentSource.GPC, "withdrawn")
    assert not tracking_stop_for_gpc(customer=customer, proof={}), "a second signal records nothing new"


def test_the_bulk_email_filter_agrees_with_can_email_person_by_person(settings):
    settings.CONSENT_REGIME = "opt-in"
    people = {
        "never asked": CustomerFactory(),
        "granted": CustomerFactory(),
        "granted with topic": CustomerFactory(),
        "withdrawn": CustomerFactory(),
        "suppressed": CustomerFactory(),
        "paused": CustomerFactory(),
        "no address": CustomerFactory(email=""),
        "pause over": CustomerFactory(),
    }
    for name, person in people.items():
        if name != "never asked" and name != "no address":
            grant(person)
    grant(people["granted with topic"], topic="offers")
    withdraw(people["withdrawn"])
    suppression_add(email=people["suppressed"].email, reason=SuppressionReason.COMPLAINT)
    preferences_change(customer=people["paused"], pause_days=3, source="api", actor="t", proof={})
    pause_that_ended(people["pause over"])
    everyone = Customer.objects.all()
    for topic in (None, "offers"):
        in_bulk = set(customers_emailable(customers=everyone, topic=topic).values_list("pk", flat=True))
        one_by_one = {p.pk for p in people.values() if can_email(p, topic)}
        assert in_bulk == one_by_one
    expected = {people[name].pk for name in ("granted", "granted with topic", "pause over")}
    assert {c.pk for c in customers_emailable(customers=everyone)} == expected


def test_the_bulk_consent_filter_follows_the_regime(settings):
    granted, never = CustomerFactory(), CustomerFactory()
    grant(granted, Purpose.PERSONALIZATION)
    everyone = Customer.objects.all()
    settings.CONSENT_REGIME = "opt-in"
    assert list(customers_consenting(customers=everyone, purpose=Purpose.PERSONALIZATION)) == [granted]
    settings.CONSENT_REGIME = "opt-out"
    assert set(customers_consenting(customers=everyone, purpose=Purpose.PERSONALIZATION)) == {granted, never}


def test_a_pause_that_ended_no_longer_blocks(subscribed):
    pause_that_ended(subscribed)
    assert can_email(subscribed)
