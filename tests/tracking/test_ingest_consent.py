"""Consent at the door: behavior is stored only for people who may be tracked, decided by
consent.selectors from the ledger, the event's own consent context, a GPC signal and the
source's consent mode. What is left out is counted, and stored nowhere."""

import base64
from datetime import UTC, datetime

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.db.models import Q
from django.utils import timezone

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose
from consent.services import consent_withdraw, subject_erase
from personalization.models import Customer, Identity, IdentityKind
from personalization.services import CustomerRow, customers_upsert
from tests.consent.conftest import grant
from tracking.ingest.asgi import IngestApp
from tracking.ingest.writer import writer
from tracking.models import Event, Source
from tracking.services import EventDraft, IngestOutcome, IngestRequest, events_ingest
from tracking.services.stats import source_counts

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _opt_in(settings):
    settings.CONSENT_REGIME = "opt-in"


@pytest.fixture
def ledger_source(db) -> Source:
    return Source.objects.create(name="Shop", consent_mode="ledger")


@pytest.fixture
def upstream_source(db) -> Source:
    return Source.objects.create(name="Shop with a banner", consent_mode="upstream")


@pytest.fixture
def ada(db) -> Customer:
    """A customer known under the user id "shop-ada", who has not decided about tracking."""
    [customer] = customers_upsert(rows=[CustomerRow(external_id="shop-ada", email="ada@example.com")])
    return customer


def tracking_grant(customer: Customer):
    return grant(customer, Purpose.TRACKING, wording="Yes, use what I browse to tailor my email.")


def tracking_withdraw(customer: Customer):
    return consent_withdraw(
        customer=customer, purpose=Purpose.TRACKING, source=ConsentSource.API, actor="tests", proof={}
    )


def send(path: str, body: dict, *, source: Source, headers=()) -> tuple[int, dict]:
    """One request to the ingest app: (status, JSON reply)."""
    auth = (b"authorization", b"Basic " + base64.b64encode(f"{source.write_key}:".encode()))
    header_list = [(b"content-type", b"application/json"), auth, *headers]

    async def exchange():
        communicator = HttpCommunicator(IngestApp(), "POST", path, body=orjson.dumps(body), headers=header_list)
        response = await communicator.get_response(5)
        await writer().drained()  # what the commit announces is done after the reply
        return response

    response = async_to_sync(exchange)()
    return response["status"], orjson.loads(response["body"])


def ingest(source: Source, *drafts: EventDraft, gpc: bool = False) -> IngestOutcome:
    request = IngestRequest(
        source_id=source.pk, asked_upstream=source.consent_mode == "upstream", drafts=list(drafts), gpc=gpc
    )
    [outcome] = events_ingest(requests=[request]).outcomes
    return outcome


def viewed(message_id: str = "m-1", **fields) -> EventDraft:
    values = {"message_id": message_id, "type": "Product Viewed", "occurred_at": WHEN, "product_sku": "SKU-1"}
    return EventDraft(**{**values, **fields})


def track(message_id: str = "m-1", **fields) -> dict:
    return {"type": "track", "event": "Product Viewed", "userId": "shop-ada", "messageId": message_id, **fields}


def stored_ids() -> set[str]:
    return set(Event.objects.values_list("message_id", flat=True))


# --- the ledger decides ---------------------------------------------------------------


def test_under_opt_in_a_ledger_source_drops_the_behavior_of_an_unknown_visitor(ledger_source):
    outcome = ingest(ledger_source, viewed(anonymous_id="anon-1"))
    assert outcome == IngestOutcome(not_consented=1)
    assert not Event.objects.exists()


def test_under_opt_in_a_ledger_source_drops_the_behavior_of_a_customer_who_never_said_yes(ledger_source, ada):
    outcome = ingest(ledger_source, viewed(user_id="shop-ada"))
    assert outcome == IngestOutcome(not_consented=1)
    assert not Event.objects.exists()


def test_the_behavior_of_a_customer_who_granted_tracking_is_stored_on_their_profile(ledger_source, ada):
    tracking_grant(ada)
    outcome = ingest(ledger_source, viewed(user_id="shop-ada"))
    assert outcome == IngestOutcome(stored=1)
    assert Event.objects.get().customer == ada


def test_a_grant_reaches_the_http_endpoint_too(ledger_source, ada):
    tracking_grant(ada)
    assert send("/v1/track", track(), source=ledger_source) == (200, {"success": True})
    assert stored_ids() == {"m-1"}


def test_a_not_consented_event_is_still_answered_success(ledger_source, ada):
    assert send("/v1/track", track(), source=ledger_source) == (200, {"success": True})
    assert not Event.objects.exists()


def test_an_upstream_source_stores_the_behavior_of_an_unknown_visitor(upstream_source):
    assert ingest(upstream_source, viewed(anonymous_id="anon-1")) == IngestOutcome(stored=1)


def test_a_tracking_withdrawal_wins_even_on_an_upstream_source(upstream_source, ada):
    tracking_withdraw(ada)
    assert ingest(upstream_source, viewed(user_id="shop-ada")) == IngestOutcome(not_consented=1)
    assert not Event.objects.exists()


def test_a_withdrawal_after_a_grant_blocks_the_next_event(ledger_source, ada):
    tracking_grant(ada)
    assert ingest(ledger_source, viewed("m-1", user_id="shop-ada")).stored == 1
    tracking_withdraw(ada)
    assert ingest(ledger_source, viewed("m-2", user_id="shop-ada")).not_consented == 1
    assert stored_ids() == {"m-1"}


@pytest.mark.parametrize(
    ("path", "call", "stored_type"),
    [
        ("/v1/identify", {"userId": "shop-ada", "messageId": "m-1", "traits": {"first_name": "Ada"}}, "Identify"),
        ("/v1/alias", {"userId": "shop-ada", "previousId": "anon-1", "messageId": "m-1"}, "Alias"),
    ],
)
def test_identify_and_alias_calls_are_stored_whatever_tracking_consent_says(
    ledger_source, ada, path, call, stored_type
):
    tracking_withdraw(ada)
    assert send(path, call, source=ledger_source) == (200, {"success": True})
    assert Event.objects.get().type == stored_type


# --- the event's own consent context --------------------------------------------------


def test_an_event_whose_consent_context_says_no_to_analytics_is_dropped_even_on_an_upstream_source(upstream_source):
    context = {"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True}}}
    assert ingest(upstream_source, viewed(anonymous_id="anon-1", context=context)) == IngestOutcome(not_consented=1)
    assert not Event.objects.exists()


def test_an_event_whose_consent_context_says_yes_to_analytics_is_stored_for_an_unknown_person(ledger_source):
    context = {"consent": {"categoryPreferences": {"analytics": True}}}
    assert ingest(ledger_source, viewed(anonymous_id="anon-1", context=context)) == IngestOutcome(stored=1)
    assert stored_ids() == {"m-1"}


def test_the_consent_context_cannot_overrule_a_withdrawal_on_the_ledger(ledger_source, ada):
    tracking_withdraw(ada)
    context = {"consent": {"categoryPreferences": {"analytics": True}}}
    assert ingest(ledger_source, viewed(user_id="shop-ada", context=context)) == IngestOutcome(not_consented=1)


def test_a_consent_context_that_is_not_an_object_says_nothing_and_is_no_error(upstream_source):
    status, reply = send("/v1/track", track(userId="", anonymousId="anon-1", context={"consent": "granted"}),
                         source=upstream_source)  # fmt: skip
    assert (status, reply) == (200, {"success": True})
    assert stored_ids() == {"m-1"}


# --- Global Privacy Control -----------------------------------------------------------

GPC = (b"sec-gpc", b"1")


def test_a_gpc_signal_drops_the_events_of_its_request_even_for_a_customer_who_granted_tracking(ledger_source, ada):
    tracking_grant(ada)
    batch = {"batch": [track("m-1"), track("m-2", userId="", anonymousId="anon-1")]}
    status, reply = send("/v1/batch", batch, source=ledger_source, headers=[GPC])
    assert (status, reply["accepted"]) == (200, 2)
    assert not Event.objects.exists()


def test_a_gpc_signal_records_a_tracking_withdrawal_on_the_ledger_of_the_customer_named_by_user_id(ledger_source, ada):
    tracking_grant(ada)
    send("/v1/track", track(), source=ledger_source, headers=[GPC, (b"user-agent", b"Test browser/1.0")])
    latest = ConsentRecord.objects.filter(customer=ada, purpose=Purpose.TRACKING).order_by("-recorded_at", "-id")[0]
    assert (latest.decision, latest.source) == (Decision.WITHDRAWN, ConsentSource.GPC)
    assert latest.proof["user_agent"] == "Test browser/1.0"


def test_after_a_gpc_signal_the_customers_later_events_without_it_are_dropped(ledger_source, ada):
    tracking_grant(ada)
    send("/v1/track", track("m-1"), source=ledger_source, headers=[GPC])
    assert send("/v1/track", track("m-2"), source=ledger_source) == (200, {"success": True})
    assert not Event.objects.exists()


# --- erased people --------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        track("m-1"),
        track("m-1", userId="", anonymousId="anon-ada"),
        {"type": "identify", "userId": "shop-ada", "messageId": "m-1", "traits": {"email": "ada@example.com"}},
    ],
    ids=["user id", "anonymous id", "identify"],
)
def test_calls_carrying_an_id_of_an_erased_person_are_not_stored(upstream_source, ada, call):
    Identity.objects.create(customer=ada, kind=IdentityKind.ANONYMOUS_ID, value="anon-ada")
    subject_erase(customer=ada)
    path = "/v1/identify" if call["type"] == "identify" else "/v1/track"
    assert send(path, call, source=upstream_source) == (200, {"success": True})
    assert not Event.objects.exists()


# --- what was counted, and what was kept ----------------------------------------------


def test_todays_counts_per_source_say_what_was_stored_duplicate_refused_and_not_consented(
    ledger_source, ada, django_capture_on_commit_callbacks
):
    tracking_grant(ada)
    batch = {
        "batch": [
            track("m-1"),
            track("m-1"),  # a retry in the same batch
            {"type": "track", "userId": "shop-ada", "messageId": "m-3"},  # no event name
            track("m-4", userId="", anonymousId="anon-visitor"),  # nobody said yes
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        status, reply = send("/v1/batch", batch, source=ledger_source)
    assert (status, reply["accepted"], [r["index"] for r in reply["rejected"]]) == (200, 3, [2])
    [(day, counts), *_] = source_counts(source_id=ledger_source.pk)
    assert day == timezone.now().date()
    assert counts == {"stored": 1, "duplicate": 1, "refused": 1, "not_consented": 1}


def test_not_consented_events_leave_no_trace_in_any_table(ledger_source, ada, django_capture_on_commit_callbacks):
    tracking_grant(ada)
    batch = {
        "batch": [
            track("m-1"),
            track("m-2", userId="shop-stranger", anonymousId="anon-stranger"),
            {"type": "page", "anonymousId": "anon-visitor", "messageId": "m-3"},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):  # the processing that follows a commit runs too
        status, _ = send("/v1/batch", batch, source=ledger_source)
    assert status == 200
    assert stored_ids() & {"m-1", "m-2", "m-3"} == {"m-1"}  # (Tailor adds its own segment events for Ada)
    strangers = ("shop-stranger", "anon-stranger", "anon-visitor")
    assert not Event.objects.filter(
        Q(message_id__in=("m-2", "m-3")) | Q(user_id__in=strangers) | Q(anonymous_id__in=strangers)
    ).exists()
    assert not Identity.objects.filter(value__in=strangers).exists()
    assert not Customer.objects.filter(external_id__in=strangers).exists()
