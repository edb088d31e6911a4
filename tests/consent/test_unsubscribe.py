"""Unsubscribing is as easy as subscribing: one click, no login, effective at once (RFC 8058)."""

import pytest
from django.test import Client

from consent.models import ConsentRecord, ConsentSource
from consent.selectors import can_email, is_suppressed, preferences_url, unsubscribe_url
from tests.consent.conftest import aged_token

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def mail_client():
    """What an email client or a mailbox provider is: no session, no cookie, no CSRF token."""
    return Client(enforce_csrf_checks=True)


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_opening_the_link_only_asks(mail_client, subscribed):
    page = mail_client.get(path(unsubscribe_url(customer=subscribed, topic="offers")))
    assert page.status_code == 200
    assert "Unsubscribe from Offers" in page.content.decode()
    assert can_email(subscribed, "offers")
    assert ConsentRecord.objects.filter(decision="withdrawn").count() == 0


def test_the_page_links_to_the_preference_center(mail_client, subscribed):
    page = mail_client.get(path(unsubscribe_url(customer=subscribed))).content.decode()
    assert preferences_url(customer=subscribed).removeprefix("http://testserver")[:40] in page


def test_one_click_unsubscribes_without_session_csrf_or_redirect(mail_client, subscribed):
    response = mail_client.post(path(unsubscribe_url(customer=subscribed, topic="offers")), ONE_CLICK)
    assert response.status_code == 200
    assert "Location" not in response
    assert not can_email(subscribed, "offers")
    assert can_email(subscribed, "newsletter")


def test_one_click_without_a_topic_stops_all_marketing_email_and_suppresses_the_address(mail_client, subscribed):
    mail_client.post(path(unsubscribe_url(customer=subscribed)), ONE_CLICK)
    assert not can_email(subscribed)
    assert is_suppressed(subscribed.email)


def test_the_withdrawal_is_recorded_with_its_source_and_proof(mail_client, subscribed):
    mail_client.post(
        path(unsubscribe_url(customer=subscribed, topic="offers")), ONE_CLICK, HTTP_USER_AGENT="Gmail one-click"
    )
    record = ConsentRecord.objects.filter(decision="withdrawn").get()
    assert (record.source, record.topic.slug, record.actor) == (ConsentSource.UNSUBSCRIBE_LINK, "offers", "person")
    assert record.proof["user_agent"] == "Gmail one-click" and record.proof["form"] == "one-click"


def test_the_page_can_unsubscribe_from_everything_instead_of_the_topic(mail_client, subscribed):
    response = mail_client.post(path(unsubscribe_url(customer=subscribed, topic="offers")), {"scope": "all"})
    assert response.status_code == 200 and "no longer receive marketing email" in response.content.decode()
    assert not can_email(subscribed, "newsletter")


def test_unsubscribing_twice_records_it_once(mail_client, subscribed):
    url = path(unsubscribe_url(customer=subscribed, topic="offers"))
    mail_client.post(url, ONE_CLICK)
    mail_client.post(url, ONE_CLICK)
    assert ConsentRecord.objects.filter(decision="withdrawn").count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_a_404_and_changes_nothing(mail_client, subscribed, method):
    url = path(unsubscribe_url(customer=subscribed))
    tampered = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    response = getattr(mail_client, method)(tampered, ONE_CLICK if method == "post" else None)
    assert response.status_code == 404
    assert can_email(subscribed)


def test_a_token_for_someone_else_cannot_be_made_by_editing_the_payload(mail_client, subscribed):
    token = unsubscribe_url(customer=subscribed).rsplit("/", 1)[1]
    payload, timestamp, signature = token.split(":")
    forged = f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}:{timestamp}:{signature}"
    assert mail_client.post(f"/u/{forged}", ONE_CLICK).status_code == 404
    assert can_email(subscribed)


def test_a_preferences_token_does_not_unsubscribe(mail_client, subscribed):
    token = preferences_url(customer=subscribed).rsplit("/", 1)[1]
    assert mail_client.post(f"/u/{token}", ONE_CLICK).status_code == 404
    assert can_email(subscribed)


def test_a_link_older_than_its_lifetime_has_expired(mail_client, subscribed):
    token = aged_token(scope="unsubscribe", payload={"c": subscribed.pk, "t": None}, days=401)
    assert mail_client.post(f"/u/{token}", ONE_CLICK).status_code == 410
    assert can_email(subscribed)


def test_a_year_old_link_still_works(mail_client, subscribed):
    token = aged_token(scope="unsubscribe", payload={"c": subscribed.pk, "t": None}, days=365)
    assert mail_client.post(f"/u/{token}", ONE_CLICK).status_code == 200
    assert not can_email(subscribed)


def test_link_pages_keep_their_token_private(mail_client, subscribed):
    response = mail_client.get(path(unsubscribe_url(customer=subscribed)))
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
