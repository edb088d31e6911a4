from datetime import UTC, datetime

import pytest

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose
from consent.selectors import can_email, link_customer
from consent.services import consent_withdraw, preferences_change
from personalization.models import Customer
from tests.consent.conftest import grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

STATE_URL = "/api/v1/consent/"
HISTORY_URL = "/api/v1/consent/history/"
GRANT_URL = "/api/v1/consent/grant"
WITHDRAW_URL = "/api/v1/consent/withdraw"


def decision(**fields) -> dict:
    return {
        "purpose": Purpose.EMAIL_MARKETING,
        "policy_version": "3",
        "wording": "Yes, send me news and offers.",
        **fields,
    }


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


# --- the state --------------------------------------------------------------------


def test_the_state_lists_each_purpose_and_topic_with_the_latest_decision(api_client, subscribed):
    grant(subscribed, purpose=Purpose.TRACKING)
    consent_withdraw(
        customer=subscribed, purpose=Purpose.EMAIL_MARKETING, topic="offers", source=ConsentSource.API, actor="t"
    )
    body = api_client.get(STATE_URL, {"email": "ada@example.com"}).json()
    assert body["customer_id"] == subscribed.pk
    assert body["purposes"] == {"email_marketing": "granted", "tracking": "granted", "personalization": None}
    assert body["topics"] == {"newsletter": "granted", "offers": "withdrawn", "product-updates": None}


def test_the_state_shows_the_frequency_and_the_pause(api_client, subscribed):
    preferences_change(
        customer=subscribed, source=ConsentSource.PREFERENCE_CENTER, actor="person", proof={}, frequency="weekly"
    )
    preferences_change(
        customer=subscribed, source=ConsentSource.PREFERENCE_CENTER, actor="person", proof={}, pause_days=30
    )
    body = api_client.get(STATE_URL, {"email": "ada@example.com"}).json()
    assert body["frequency"] == "weekly"
    assert datetime.fromisoformat(body["paused_until"]) > datetime.now(UTC)
    assert body["can_email"] is False


def test_the_state_of_a_customer_never_asked_has_no_pause_and_no_suppression(api_client, customer):
    body = api_client.get(STATE_URL, {"email": "ada@example.com"}).json()
    assert body["frequency"] == "any"
    assert body["paused_until"] is None
    assert body["suppressed"] is False


def test_the_state_says_what_may_be_done_with_the_person_now(api_client, subscribed, settings):
    settings.CONSENT_REGIME = "opt-in"
    grant(subscribed, purpose=Purpose.PERSONALIZATION)
    body = api_client.get(STATE_URL, {"external_id": "shop-ada"}).json()
    assert (body["can_email"], body["can_track"], body["can_personalize"]) == (True, False, True)


def test_the_state_carries_an_unsubscribe_link_and_a_preferences_link_for_the_person(api_client, customer, settings):
    body = api_client.get(STATE_URL, {"email": "ada@example.com"}).json()
    unsubscribe_prefix = f"{settings.TAILOR_BASE_URL}/u/"
    preferences_prefix = f"{settings.TAILOR_BASE_URL}/preferences/"
    assert body["unsubscribe_url"].startswith(unsubscribe_prefix)
    assert body["preferences_url"].startswith(preferences_prefix)
    unsubscribe_token = body["unsubscribe_url"].removeprefix(unsubscribe_prefix)
    preferences_token = body["preferences_url"].removeprefix(preferences_prefix)
    assert link_customer(scope="unsubscribe", token=unsubscribe_token)[0] == customer
    assert link_customer(scope="preferences", token=preferences_token)[0] == customer


def test_the_state_finds_the_person_whatever_the_case_of_the_address(api_client, customer):
    body = api_client.get(STATE_URL, {"email": "ADA@Example.com"}).json()
    assert body["customer_id"] == customer.pk


def test_the_state_of_an_unknown_person_is_a_404_in_the_error_shape(api_client, db):
    error = assert_error_shape(api_client.get(STATE_URL, {"email": "nobody@example.com"}), 404, "not_found")
    assert "nobody@example.com" in error["message"]


# --- grant and withdraw -----------------------------------------------------------


def test_granting_for_an_unknown_address_creates_the_customer_and_records_the_grant(api_client, db):
    response = api_client.post(GRANT_URL, decision(email="New.Person@Example.com"), format="json")
    assert response.status_code == 201
    created = Customer.objects.get(email="new.person@example.com")
    record = ConsentRecord.objects.get(pk=response.json()["id"])
    assert record.customer == created
    assert (record.purpose, record.decision, record.source) == ("email_marketing", "granted", "api")
    assert record.actor == "api-key:tests"
    assert (record.policy_version, record.wording) == ("3", "Yes, send me news and offers.")
    assert can_email(created)


def test_a_grant_answers_with_the_record_it_made(api_client, customer):
    response = api_client.post(GRANT_URL, decision(external_id="shop-ada"), format="json")
    body = response.json()
    record = ConsentRecord.objects.get()
    assert body["id"] == record.pk
    assert body["customer_id"] == customer.pk
    assert (body["purpose"], body["decision"], body["source"]) == ("email_marketing", "granted", "api")


def test_a_grant_for_a_topic_records_the_topic(api_client, customer):
    grant(customer)
    response = api_client.post(GRANT_URL, decision(email="ada@example.com", topic="newsletter"), format="json")
    assert response.json()["topic"] == "newsletter"
    assert can_email(customer, topic="newsletter")
    assert not can_email(customer, topic="offers")


def test_a_withdrawal_stops_marketing_email_at_once(api_client, subscribed):
    assert can_email(subscribed)
    response = api_client.post(WITHDRAW_URL, decision(email="ada@example.com"), format="json")
    assert response.status_code == 201
    assert response.json()["decision"] == Decision.WITHDRAWN
    assert not can_email(Customer.objects.get(pk=subscribed.pk))


def test_withdrawing_for_an_unknown_customer_is_a_404_in_the_error_shape(api_client, db):
    response = api_client.post(WITHDRAW_URL, decision(email="nobody@example.com"), format="json")
    error = assert_error_shape(response, 404, "not_found")
    assert "nobody@example.com" in error["message"]
    assert not Customer.objects.exists()
    assert not ConsentRecord.objects.exists()


def test_granting_for_an_unknown_external_id_is_a_404(api_client, db):
    response = api_client.post(GRANT_URL, decision(external_id="shop-nobody"), format="json")
    assert_error_shape(response, 404, "not_found")
    assert not Customer.objects.exists()


def test_an_unknown_purpose_is_a_400_naming_the_field(api_client, customer):
    response = api_client.post(GRANT_URL, decision(email="ada@example.com", purpose="telepathy"), format="json")
    error = assert_error_shape(response, 400, "invalid")
    assert "purpose" in error["details"]
    assert "purpose" in error["message"]
    assert not ConsentRecord.objects.exists()


def test_an_unknown_topic_is_a_400_naming_it(api_client, customer):
    response = api_client.post(GRANT_URL, decision(email="ada@example.com", topic="weekly-digest"), format="json")
    error = assert_error_shape(response, 400, "invalid")
    assert error["details"] == {"topic": ["weekly-digest"]}
    assert not ConsentRecord.objects.exists()


def test_a_topic_with_the_tracking_purpose_is_a_400(api_client, customer):
    response = api_client.post(
        GRANT_URL, decision(email="ada@example.com", purpose=Purpose.TRACKING, topic="newsletter"), format="json"
    )
    error = assert_error_shape(response, 400, "invalid")
    assert "topic" in error["details"]
    assert not ConsentRecord.objects.exists()


def test_a_malformed_email_is_a_400_naming_the_field(api_client, db):
    response = api_client.post(GRANT_URL, decision(email="not-an-email"), format="json")
    error = assert_error_shape(response, 400, "invalid")
    assert "email" in error["details"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "reference",
    [pytest.param({}, id="none"), pytest.param({"email": "ada@example.com", "external_id": "shop-ada"}, id="two")],
)
def test_a_decision_must_name_exactly_one_customer(api_client, customer, reference):
    response = api_client.post(GRANT_URL, decision(**reference), format="json")
    error = assert_error_shape(response, 400, "invalid")
    assert "exactly one of customer_id, email or external_id" in error["message"]
    assert not ConsentRecord.objects.exists()


def test_the_state_must_name_exactly_one_customer(api_client, customer):
    response = api_client.get(STATE_URL, {"email": "ada@example.com", "customer_id": customer.pk})
    assert_error_shape(response, 400, "invalid")


# --- proof and history ------------------------------------------------------------


def test_a_grant_without_proof_is_proven_by_the_api_request_itself(api_client, customer):
    api_client.post(
        GRANT_URL,
        decision(email="ada@example.com"),
        format="json",
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="shop-backend/2.1",
    )
    proof = ConsentRecord.objects.get().proof
    assert proof["ip"] == "203.0.113.9"
    assert proof["user_agent"] == "shop-backend/2.1"
    assert proof["form"] == "management API"


def test_a_grant_keeps_the_proof_it_was_given(api_client, customer):
    given = {"ip": "198.51.100.7", "user_agent": "Firefox", "page": "https://shop.example/signup"}
    api_client.post(GRANT_URL, decision(email="ada@example.com", proof=given), format="json", REMOTE_ADDR="203.0.113.9")
    assert ConsentRecord.objects.get().proof == given


def test_the_history_lists_every_entry_newest_first_with_its_proof(api_client, customer):
    grant(customer, recorded_at=datetime(2024, 1, 1, tzinfo=UTC), proof={"ip": "198.51.100.1"})
    preferences_change(customer=customer, source=ConsentSource.PREFERENCE_CENTER, actor="person",
                       proof={"ip": "198.51.100.2"}, frequency="monthly")  # fmt: skip
    consent_withdraw(
        customer=customer,
        purpose=Purpose.EMAIL_MARKETING,
        source=ConsentSource.UNSUBSCRIBE_LINK,
        actor="person",
        proof={"ip": "198.51.100.3"},
        recorded_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    entries = api_client.get(HISTORY_URL, {"external_id": "shop-ada"}).json()
    assert [(e["kind"], e["summary"], e["proof"]) for e in entries] == [
        ("consent", "Email marketing: Withdrawn", {"ip": "198.51.100.3"}),
        ("preference", "At most once a month", {"ip": "198.51.100.2"}),
        ("consent", "Email marketing: Granted", {"ip": "198.51.100.1"}),
    ]
    assert entries[2]["wording"] == "Yes, email me."
    assert entries[2]["actor"] == "api-key:tests"


def test_the_history_holds_only_the_persons_own_entries(api_client, customer):
    grant(CustomerFactory(external_id="shop-bob"))
    assert api_client.get(HISTORY_URL, {"external_id": "shop-ada"}).json() == []


# --- the schema -------------------------------------------------------------------


def test_the_consent_endpoints_are_in_the_openapi_schema(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "get" in paths["/api/v1/consent/"]
    assert "get" in paths["/api/v1/consent/history/"]
    assert "post" in paths["/api/v1/consent/grant"]
    assert "post" in paths["/api/v1/consent/withdraw"]


def test_the_schema_documents_how_to_name_the_customer_of_the_state(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/consent/"]["get"]["parameters"]}
    assert {"customer_id", "email", "external_id"} <= parameters
