"""Data subject requests: a person's export (GDPR Art. 15, 20) and erasure (Art. 17) through
the management API and the admin, who may ask for them, and the audit trail they leave."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentSource, DataSubjectRequest, Purpose, RequestKind, RequestLogEntry, RequestStatus
from consent.services import consent_withdraw, data_request_create, data_request_run, subscription_request
from personalization.models import Customer
from tests.consent.conftest import grant
from tests.factories import CustomerFactory, EventFactory, IdentityFactory
from tracking.models import EventType
from tracking.services import EventDraft, events_store

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/requests/"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def open_request(client, commit, **body):
    """POST a request and commit, so that its work runs (tasks run eagerly in tests)."""
    with commit(execute=True):
        return client.post(REQUESTS, body, format="json")


@pytest.fixture
def known(customer):
    """A customer with an anonymous id, events under both ids, decisions and a waiting opt-in."""
    anonymous_id = IdentityFactory(customer=customer, value="anon-ada-1").value
    EventFactory(customer=customer, message_id="m-linked", occurred_at=timezone.now() - timedelta(days=2))
    events_store(
        drafts=[
            EventDraft(
                message_id="m-anonymous",
                type=EventType.PAGE_VIEWED,
                occurred_at=timezone.now() - timedelta(days=1),
                anonymous_id=anonymous_id,
            )
        ]
    )
    grant(customer)
    grant(customer, topic="newsletter")
    consent_withdraw(customer=customer, purpose=Purpose.TRACKING, source=ConsentSource.API, actor="tests", proof={})
    subscription_request(
        email=customer.email, topics=["offers"], proof={"form": "footer"}, policy_version="1", wording="Offers, yes."
    )
    return customer


@pytest.fixture
def completed_export(known, api_client, django_capture_on_commit_callbacks) -> int:
    response = open_request(api_client, django_capture_on_commit_callbacks, kind="export", customer_id=known.pk)
    return response.json()["id"]


@pytest.fixture
def marketer_client(marketer) -> APIClient:
    client = APIClient()
    client.force_login(marketer)
    return client


@pytest.fixture
def officer_client(privacy_officer) -> APIClient:
    client = APIClient()
    client.force_login(privacy_officer)
    return client


# --- the API --------------------------------------------------------------------------


def test_an_export_request_is_accepted_with_202(known, api_client, django_capture_on_commit_callbacks):
    response = open_request(api_client, django_capture_on_commit_callbacks, kind="export", customer_id=known.pk)

    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["customer_id"], body["requested_by"]) == ("export", known.pk, "api-key:tests")
    assert [entry["message"] for entry in body["log"]] == ["Export (access) requested."]


def test_an_export_request_completes_and_its_detail_shows_times_and_the_audit_log(api_client, completed_export):
    body = api_client.get(f"{REQUESTS}{completed_export}/").json()

    assert body["status"] == "completed"
    assert body["created_at"] <= body["started_at"] <= body["completed_at"]
    assert body["failure"] == ""
    log = [(entry["actor"], entry["message"]) for entry in body["log"]]
    assert log[:2] == [("api-key:tests", "Export (access) requested."), ("system", "Started.")]
    assert log[2] == ("system", "Completed: 2 events and 3 ledger entries exported.")
    assert len(log) == 3


def test_the_export_is_one_document_with_profile_identities_events_consent_and_subscription_requests(
    known, api_client, completed_export
):
    response = api_client.get(f"{REQUESTS}{completed_export}/export")

    assert response.status_code == 200
    document = response.json()
    assert {"profile", "events", "consent", "subscription_requests"} <= set(document)
    assert (document["profile"]["email"], document["profile"]["external_id"]) == ("ada@example.com", "shop-ada")
    assert [(i["kind"], i["value"]) for i in document["profile"]["identities"]] == [("anonymous_id", "anon-ada-1")]
    assert [e["message_id"] for e in document["events"]] == ["m-linked", "m-anonymous"]
    current = document["consent"]["current"]
    assert current["purposes"] == {"email_marketing": "granted", "tracking": "withdrawn", "personalization": None}
    assert current["topics"]["newsletter"] == "granted"
    assert len(document["consent"]["history"]) == 3
    assert [(r["topics"], r["confirmed_at"]) for r in document["subscription_requests"]] == [(["offers"], None)]


def test_the_export_of_a_request_not_yet_run_is_a_409(known, api_client):
    request = data_request_create(kind=RequestKind.EXPORT, customer=known, requested_by="tests")

    assert_error(api_client.get(f"{REQUESTS}{request.pk}/export"), 409, "conflict")


def test_the_export_of_an_erasure_request_is_refused_with_400(known, api_client):
    erasure = data_request_create(kind=RequestKind.ERASURE, customer=known, requested_by="tests")

    assert_error(api_client.get(f"{REQUESTS}{erasure.pk}/export"), 400, "invalid")


@pytest.mark.parametrize("path", ["{id}/", "{id}/export"], ids=["detail", "export"])
def test_an_unknown_request_is_a_404_in_the_error_shape(api_client, path):
    missing = (DataSubjectRequest.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000

    assert_error(api_client.get(REQUESTS + path.format(id=missing)), 404, "not_found")


def test_a_request_for_an_unknown_customer_is_a_404(api_client):
    response = api_client.post(REQUESTS, {"kind": "export", "email": "nobody@example.com"}, format="json")

    assert_error(response, 404, "not_found")
    assert not DataSubjectRequest.objects.exists()


def test_a_request_naming_no_customer_is_refused_with_400(api_client):
    response = api_client.post(REQUESTS, {"kind": "export"}, format="json")

    assert_error(response, 400, "invalid")
    assert not DataSubjectRequest.objects.exists()


def test_a_request_naming_the_customer_two_ways_at_once_is_refused_with_400(known, api_client):
    response = api_client.post(
        REQUESTS, {"kind": "erasure", "customer_id": known.pk, "email": known.email}, format="json"
    )

    assert_error(response, 400, "invalid")
    assert not DataSubjectRequest.objects.exists()
    assert Customer.objects.filter(pk=known.pk).exists()


# --- staff sessions -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["export", "erasure"])
def test_a_marketers_staff_session_may_not_open_a_request(known, marketer_client, kind):
    response = marketer_client.post(REQUESTS, {"kind": kind, "customer_id": known.pk}, format="json")

    assert_error(response, 403, "forbidden")
    assert not DataSubjectRequest.objects.exists()


@pytest.mark.parametrize("path", ["{id}/", "{id}/export"], ids=["detail", "export"])
def test_a_marketers_staff_session_may_not_read_a_request(marketer_client, completed_export, path):
    assert_error(marketer_client.get(REQUESTS + path.format(id=completed_export)), 403, "forbidden")


def test_a_privacy_officers_staff_session_may_open_a_request(known, officer_client, django_capture_on_commit_callbacks):
    response = open_request(officer_client, django_capture_on_commit_callbacks, kind="export", customer_id=known.pk)

    assert response.status_code == 202
    assert response.json()["requested_by"] == "staff:priya"
    assert DataSubjectRequest.objects.get().status == RequestStatus.COMPLETED


def test_a_privacy_officers_staff_session_may_read_the_export(officer_client, completed_export):
    response = officer_client.get(f"{REQUESTS}{completed_export}/export")

    assert response.status_code == 200
    assert response.json()["profile"]["email"] == "ada@example.com"


# --- the admin ------------------------------------------------------------------------

CUSTOMERS_ADMIN = "/admin/personalization/customer/"


def test_the_admin_does_not_let_a_marketer_erase_a_customer(
    customer, marketer, client, django_capture_on_commit_callbacks
):
    client.force_login(marketer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(CUSTOMERS_ADMIN, {"action": "erase", "_selected_action": [customer.pk]})

    assert Customer.objects.filter(pk=customer.pk).exists()
    assert not DataSubjectRequest.objects.exists()


def test_a_privacy_officer_erases_a_customer_from_the_admin(
    customer, privacy_officer, client, django_capture_on_commit_callbacks
):
    client.force_login(privacy_officer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CUSTOMERS_ADMIN, {"action": "erase", "_selected_action": [customer.pk]})

    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert DataSubjectRequest.objects.get().requested_by == "staff:priya"


# --- running a request ----------------------------------------------------------------


def test_running_a_completed_request_again_leaves_it_as_it_is(known):
    request = data_request_create(kind=RequestKind.EXPORT, customer=known, requested_by="tests")
    first = data_request_run(request_id=request.pk)
    grant(known, topic="offers")  # a second run would export this too

    again = data_request_run(request_id=request.pk)

    again.refresh_from_db()
    assert again.status == RequestStatus.COMPLETED
    assert (again.started_at, again.completed_at, again.document) == (
        first.started_at,
        first.completed_at,
        first.document,
    )
    assert again.log.count() == 3


@pytest.mark.parametrize("kind", ["export", "erasure"])
def test_the_audit_log_never_contains_the_persons_email(known, api_client, django_capture_on_commit_callbacks, kind):
    open_request(api_client, django_capture_on_commit_callbacks, kind=kind, email=known.email)

    entries = list(RequestLogEntry.objects.values_list("actor", "message"))
    assert len(entries) == 3  # requested, started, completed
    assert not [entry for entry in entries if "ada@example.com" in " ".join(entry).lower()], entries


def test_requests_of_other_customers_are_not_mixed_up(api_client, django_capture_on_commit_callbacks):
    ada, grace = CustomerFactory(email="ada@example.com"), CustomerFactory(email="grace@example.com")
    EventFactory(customer=grace)

    response = open_request(api_client, django_capture_on_commit_callbacks, kind="export", customer_id=ada.pk)

    document = api_client.get(f"{REQUESTS}{response.json()['id']}/export").json()
    assert document["profile"]["id"] == ada.pk
    assert document["events"] == []
