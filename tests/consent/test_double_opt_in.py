"""Subscribing: nothing is granted until the person confirms from their inbox."""

import re

import pytest
from django.core import mail
from django.test import Client

from consent.models import ConsentRecord, ConsentSource, OptInRequest, SuppressionReason
from consent.selectors import can_email, preferences_url
from consent.services import suppression_add
from personalization.models import Customer
from tests.consent.conftest import aged_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    """A visitor with no session, as an embedded form or an email client sees Tailor."""
    return Client(enforce_csrf_checks=True, HTTP_USER_AGENT="Mozilla/5.0 (tests)")


def subscribe(browser, capture, **data):
    with capture(execute=True):
        return browser.post("/subscribe", {"email": "Ada@Example.com", "topics": ["newsletter"], **data})


def confirmation_link() -> str:
    [message] = mail.outbox
    return re.search(r"http://testserver(/subscribe/confirm/\S+)", message.body).group(1)


def test_the_embeddable_form_shows_the_topics_and_the_wording(browser):
    page = browser.get("/subscribe/form?topics=newsletter,offers").content.decode()
    assert 'value="newsletter"' in page and 'value="offers"' in page
    assert 'value="product-updates"' not in page
    assert "I can unsubscribe at any time" in page


def test_the_form_may_be_embedded_in_the_shops_pages(browser):
    assert "X-Frame-Options" not in browser.get("/subscribe/form")


def test_subscribing_sends_one_confirmation_and_grants_nothing_yet(browser, django_capture_on_commit_callbacks):
    response = subscribe(browser, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "/subscribe/confirm/" in message.body
    assert message.alternatives, "an HTML part goes with the text"
    customer = Customer.objects.get(email="ada@example.com")
    assert not can_email(customer)
    assert not ConsentRecord.objects.exists()


def test_opening_the_link_asks_and_changes_nothing(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    page = browser.get(confirmation_link())
    assert page.status_code == 200 and "Yes, subscribe me" in page.content.decode()
    assert not ConsentRecord.objects.exists()


def test_confirming_grants_the_purpose_and_topics_with_proof_of_both_steps(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    response = browser.post(confirmation_link())
    assert response.status_code == 200 and "You are subscribed" in response.content.decode()
    customer = Customer.objects.get(email="ada@example.com")
    assert can_email(customer, "newsletter")
    assert not can_email(customer, "offers")
    records = ConsentRecord.objects.filter(customer=customer)
    assert {r.source for r in records} == {ConsentSource.DOUBLE_OPT_IN}
    proof = records.first().proof
    assert proof["request"]["user_agent"] == proof["confirmation"]["user_agent"] == "Mozilla/5.0 (tests)"
    assert "Newsletter" in records.first().wording


def test_a_replayed_confirmation_changes_nothing(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    link = confirmation_link()
    browser.post(link)
    records = ConsentRecord.objects.count()
    response = browser.post(link)
    assert response.status_code == 200 and "Already confirmed" in response.content.decode()
    assert ConsentRecord.objects.count() == records


def test_a_tampered_confirmation_link_is_a_404_and_changes_nothing(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    response = browser.post(confirmation_link()[:-2] + "xx")
    assert response.status_code == 404
    assert not ConsentRecord.objects.exists()


def test_a_week_old_confirmation_link_has_expired(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    opt_in = OptInRequest.objects.get()
    response = browser.post(f"/subscribe/confirm/{aged_token(scope='opt-in', payload={'r': opt_in.pk}, days=8)}")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_a_link_made_for_another_purpose_is_refused(browser, customer):
    token = preferences_url(customer=customer).rsplit("/", 1)[1]
    assert browser.post(f"/subscribe/confirm/{token}").status_code == 404


def test_subscribing_again_soon_sends_no_second_email(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    response = subscribe(browser, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert OptInRequest.objects.count() == 1


def test_someone_already_subscribed_gets_the_same_reply_and_no_email(browser, django_capture_on_commit_callbacks):
    subscribe(browser, django_capture_on_commit_callbacks)
    browser.post(confirmation_link())
    mail.outbox.clear()
    response = subscribe(browser, django_capture_on_commit_callbacks)
    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    assert mail.outbox == []


def test_an_address_that_complained_gets_no_confirmation(browser, django_capture_on_commit_callbacks):
    suppression_add(email="ada@example.com", reason=SuppressionReason.COMPLAINT)
    assert subscribe(browser, django_capture_on_commit_callbacks).status_code == 200
    assert mail.outbox == []


def test_confirming_lifts_an_earlier_unsubscribe(browser, django_capture_on_commit_callbacks):
    suppression_add(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    subscribe(browser, django_capture_on_commit_callbacks)
    browser.post(confirmation_link())
    assert can_email(Customer.objects.get(email="ada@example.com"))


def test_a_malformed_address_is_refused_with_a_clear_message(browser, django_capture_on_commit_callbacks):
    response = subscribe(browser, django_capture_on_commit_callbacks, email="ada@@example")
    assert response.status_code == 400
    assert "email" in response.content.decode().lower()
    assert not Customer.objects.exists() and mail.outbox == []


def test_an_unknown_topic_is_refused(browser, django_capture_on_commit_callbacks):
    response = subscribe(browser, django_capture_on_commit_callbacks, topics=["horoscopes"])
    assert response.status_code == 400
    assert not OptInRequest.objects.exists()


def test_the_shops_own_form_can_subscribe_with_json(browser, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/subscribe",
            {"email": "bo@example.com", "topics": ["offers"], "policy_version": "7", "wording": "Deals, please."},
            content_type="application/json",
        )
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response["Access-Control-Allow-Origin"] == "*"
    opt_in = OptInRequest.objects.get()
    assert (opt_in.policy_version, opt_in.wording) == ("7", "Deals, please.")
    assert len(mail.outbox) == 1


def test_bad_json_is_a_400_in_the_error_shape(browser):
    response = browser.post("/subscribe", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_a_bot_filling_the_hidden_field_is_answered_politely_and_ignored(browser, django_capture_on_commit_callbacks):
    response = subscribe(browser, django_capture_on_commit_callbacks, website="http://spam.example")
    assert response.status_code == 200
    assert not Customer.objects.exists() and mail.outbox == []


def test_too_many_signups_from_one_address_are_throttled(browser, django_capture_on_commit_callbacks):
    for n in range(20):
        subscribe(browser, django_capture_on_commit_callbacks, email=f"p{n}@example.com")
    response = subscribe(browser, django_capture_on_commit_callbacks, email="p21@example.com")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not Customer.objects.filter(email="p21@example.com").exists()
