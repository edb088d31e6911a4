"""The preference center: plain HTML, no JavaScript, every change written to the ledger."""

import pytest
from django.test import Client

from consent.models import ConsentRecord, ConsentSource, PreferenceChange, SuppressionReason
from consent.selectors import can_email, can_personalize, consent_state, preferences_url
from consent.services import consent_withdraw, suppression_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(subscribed):
    return preferences_url(customer=subscribed).removeprefix("http://testserver")


def current_choices(customer, **changes) -> dict:
    """The form as the person would submit it untouched, with some switches changed."""
    state = consent_state(customer=customer)
    data = {f"purpose_{p}": "on" for p, _ in state.purposes.items() if state.allows(p)}
    data |= {f"topic_{slug}": "on" for slug, decision in state.topics.items() if decision == "granted"}
    data |= {"frequency": state.frequency, "pause": "0"}
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_the_page_shows_each_switch_as_the_ledger_says(page, subscribed):
    html = Client().get(page).content.decode()
    assert 'name="topic_offers" id="id_topic_offers" checked' in html
    assert 'name="topic_product-updates" id="id_topic_product-updates">' in html
    assert "<script" not in html, "the page works without JavaScript"
    assert 'for="id_topic_offers"' in html, "every switch has a label"


def test_saving_untouched_choices_records_nothing(page, subscribed):
    records = ConsentRecord.objects.count()
    response = Client().post(page, current_choices(subscribed))
    assert "Nothing changed" in response.content.decode()
    assert ConsentRecord.objects.count() == records
    assert not PreferenceChange.objects.exists()


def test_switching_a_topic_off_writes_one_withdrawal_with_the_words_shown(page, subscribed):
    response = Client().post(page, current_choices(subscribed, topic_offers=None))
    assert response.status_code == 200 and "1 change recorded" in response.content.decode()
    record = ConsentRecord.objects.filter(source=ConsentSource.PREFERENCE_CENTER).get()
    assert (record.topic.slug, record.decision) == ("offers", "withdrawn")
    assert record.wording.startswith("Offers:")
    assert not can_email(subscribed, "offers")


def test_switching_personalization_on_grants_it(page, subscribed):
    Client().post(page, current_choices(subscribed, purpose_personalization="on"))
    assert can_personalize(subscribed)


def test_a_frequency_change_is_recorded_as_a_preference(page, subscribed):
    Client().post(page, current_choices(subscribed, frequency="weekly"))
    change = PreferenceChange.objects.get()
    assert (change.frequency, change.source) == ("weekly", ConsentSource.PREFERENCE_CENTER)
    assert consent_state(customer=subscribed).frequency == "weekly"


def test_a_pause_stops_email_and_the_page_offers_to_resume(page, subscribed):
    Client().post(page, current_choices(subscribed, pause="30"))
    assert not can_email(subscribed)
    html = Client().get(page).content.decode()
    assert "Resume now" in html and "Paused until" in html
    Client().post(page, current_choices(subscribed, pause="0"))
    assert can_email(subscribed)


def test_staying_paused_keeps_the_pause(page, subscribed):
    Client().post(page, current_choices(subscribed, pause="7"))
    Client().post(page, current_choices(subscribed, pause="", frequency="monthly"))
    assert not can_email(subscribed)


def test_an_invalid_choice_is_refused_and_nothing_is_written(page, subscribed):
    response = Client().post(page, current_choices(subscribed, frequency="hourly"))
    assert response.status_code == 400
    assert not PreferenceChange.objects.exists()


def test_turning_email_back_on_lifts_an_unsubscribe(page, subscribed):
    suppression_add(email=subscribed.email, reason=SuppressionReason.UNSUBSCRIBE)
    assert not can_email(subscribed)
    consent_withdraw(customer=subscribed, purpose="email_marketing", source="unsubscribe_link", actor="p", proof={})
    Client().post(page, current_choices(subscribed, purpose_email_marketing="on"))
    assert can_email(subscribed, "newsletter")


def test_a_hard_bounce_is_not_lifted_from_the_preference_center(page, subscribed):
    suppression_add(email=subscribed.email, reason=SuppressionReason.HARD_BOUNCE)
    Client().post(page, current_choices(subscribed, topic_offers=None))
    assert not can_email(subscribed)
