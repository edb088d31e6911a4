"""Erasure (GDPR Art. 17): once a person is erased, no table and no cache entry holds their
address, their ids or a reference to their profile. What is kept is the suppression of the
address, their withdrawals stripped of personal data, and hashes of the ids they used."""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from consent.models import (
    ConsentRecord,
    ConsentSource,
    DataSubjectRequest,
    Decision,
    ErasedIdentifier,
    Frequency,
    OptInRequest,
    PreferenceChange,
    Purpose,
    RequestKind,
    RequestStatus,
    Suppression,
    SuppressionReason,
)
from consent.selectors import (
    address_hash,
    can_email,
    consent_state,
    erased_among,
    is_suppressed,
    suppression_for,
    unsubscribe_url,
)
from consent.services import (
    consent_withdraw,
    consents_import_csv,
    data_request_create,
    data_request_run,
    preferences_change,
    subject_erase,
    subscription_request,
)
from core.cache import address_cache_prefix, customer_cache_prefix
from personalization.models import Customer
from personalization.selectors import customer_find
from tests.consent.conftest import grant
from tests.factories import CustomerFactory, EventFactory, IdentityFactory
from tracking.models import Event, EventType
from tracking.services import EventDraft, events_store

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Person:
    """Someone Tailor knows a lot about, and everything that was recorded about them."""

    customer: Customer
    customer_id: int  # kept apart: erasure deletes the Customer object, which forgets its pk
    email: str
    external_id: str
    anonymous_id: str
    event_ids: list[str]
    withdrawal: ConsentRecord
    preference: PreferenceChange
    opt_in: OptInRequest
    export: DataSubjectRequest
    cache_keys: list[str]

    @property
    def identifiers(self) -> dict[str, str]:
        return {"email": self.email, "external id": self.external_id, "anonymous id": self.anonymous_id}


@pytest.fixture
def person(customer, django_capture_on_commit_callbacks) -> Person:
    email, external_id = customer.email, customer.external_id
    anonymous_id = IdentityFactory(customer=customer).value
    with django_capture_on_commit_callbacks(execute=True):
        opt_in = subscription_request(
            email=email,
            topics=["newsletter"],
            proof={"ip": "203.0.113.7", "form": "footer", "typed": email},
            policy_version="1",
            wording="Yes, send me the newsletter.",
        )
    grant(customer)
    grant(customer, topic="newsletter")
    grant(customer, purpose=Purpose.TRACKING, proof={"ip": "203.0.113.7", "anonymous_id": anonymous_id})
    grant(customer, purpose=Purpose.PERSONALIZATION)
    withdrawal = consent_withdraw(
        customer=customer,
        purpose=Purpose.PERSONALIZATION,
        source=ConsentSource.ADMIN,
        actor="staff:priya",
        proof={"ip": "198.51.100.4", "note": f"Asked by letter from {email}"},
    )
    preference = preferences_change(
        customer=customer,
        source=ConsentSource.PREFERENCE_CENTER,
        actor="person",
        proof={"page": "/preferences", "account": external_id},
        frequency=Frequency.WEEKLY,
    )
    now = timezone.now()
    linked = [
        EventFactory(customer=customer, type=EventType.IDENTIFY, properties={"email": email}),
        EventFactory(customer=customer, anonymous_id=anonymous_id, type=EventType.PRODUCT_VIEWED),
    ]
    unlinked = [
        EventDraft(
            message_id=str(uuid.uuid4()),
            type=EventType.PAGE_VIEWED,
            occurred_at=now - timedelta(days=3),
            anonymous_id=anonymous_id,
            context={"traits": {"email": email}},
        ),
        EventDraft(
            message_id=str(uuid.uuid4()),
            type=EventType.ORDER_COMPLETED,
            occurred_at=now - timedelta(days=2),
            user_id=external_id,
            properties={"order_id": "o-1"},
        ),
    ]
    assert events_store(drafts=unlinked).stored == 2
    with django_capture_on_commit_callbacks(execute=True):
        export = data_request_create(kind=RequestKind.EXPORT, customer=customer, requested_by="api-key:tests")
    export.refresh_from_db()
    assert export.status == RequestStatus.COMPLETED and export.document
    cache_keys = [f"{customer_cache_prefix(customer.pk)}profile", f"{address_cache_prefix(address_hash(email))}status"]
    cache.set(cache_keys[0], {"email": email, "external_id": external_id, "anonymous_id": anonymous_id})
    cache.set(cache_keys[1], f"{email} is subscribed")
    return Person(
        customer=customer,
        customer_id=customer.pk,
        email=email,
        external_id=external_id,
        anonymous_id=anonymous_id,
        event_ids=[e.message_id for e in linked] + [d.message_id for d in unlinked],
        withdrawal=withdrawal,
        preference=preference,
        opt_in=opt_in,
        export=export,
        cache_keys=cache_keys,
    )


@pytest.fixture
def bystander(db) -> Customer:
    """Someone else, who must not be touched by the erasure."""
    other = CustomerFactory(email="grace@example.com", external_id="shop-grace")
    IdentityFactory(customer=other)
    grant(other)
    EventFactory(customer=other)
    cache.set(f"{customer_cache_prefix(other.pk)}profile", {"email": other.email})
    return other


# The database is checked right after the erasure, the cache once its transaction has
# committed (the test's transaction never commits: `commit` runs the on_commit callbacks).


def erase_directly(person: Person, commit=None) -> None:
    with commit(execute=True) if commit else nullcontext():
        subject_erase(customer=person.customer)


def erase_by_request(person: Person, commit=None) -> None:
    with commit(execute=True) if commit else nullcontext():
        request = data_request_create(kind=RequestKind.ERASURE, customer=person.customer, requested_by="staff:priya")
    if not commit:
        data_request_run(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED, request.failure


@pytest.fixture
def erased(person) -> Person:
    erase_directly(person)
    return person


# --- the scans ------------------------------------------------------------------------


def traces_in_tables(person: Person) -> list[str]:
    """Every column of every table that still holds one of the person's ids or points at their profile."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy:
            continue
        rows = model._base_manager.all()
        table = model._meta.db_table
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey):
                if field.related_model is Customer and rows.filter(**{field.attname: person.customer_id}).exists():
                    found.append(f"{table}.{field.column} points at the erased customer #{person.customer_id}")
                continue
            if isinstance(field, models.JSONField):
                column, searched = rows.annotate(_as_text=Cast(field.name, models.TextField())), "_as_text"
            elif isinstance(field, models.CharField | models.TextField):  # EmailField, SlugField are CharFields
                column, searched = rows, field.name
            else:
                continue
            for what, value in person.identifiers.items():
                if column.filter(**{f"{searched}__icontains": value}).exists():
                    found.append(f"{table}.{field.column} holds the {what}")
    if Customer.objects.filter(pk=person.customer_id).exists():
        found.append(f"{Customer._meta.db_table} still has the row of customer #{person.customer_id}")
    return found


def _redis_value(client: redis.Redis, key: bytes) -> bytes:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"hash":
        return b" ".join(k + b"=" + v for k, v in client.hgetall(key).items())
    if kind == b"list":
        return b" ".join(client.lrange(key, 0, -1))
    if kind == b"set":
        return b" ".join(client.smembers(key))
    if kind == b"zset":
        return b" ".join(client.zrange(key, 0, -1))
    return client.dump(key) or b""


def traces_in_redis(person: Person) -> list[str]:
    """Every key of the Redis database whose name or value holds one of the person's ids."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for key in client.scan_iter(count=1000):
        value = _redis_value(client, key).lower()
        for what, needle in person.identifiers.items():
            needle = needle.lower().encode()
            if needle in key.lower():
                found.append(f"redis key {key!r} names the {what}")
            if needle in value:
                found.append(f"redis key {key!r} holds the {what}")
    return found


# --- nothing is left ------------------------------------------------------------------


@pytest.mark.parametrize("erase", [erase_directly, erase_by_request], ids=["service", "request"])
def test_erasure_leaves_no_trace_of_the_person_in_any_table(person, erase):
    before = traces_in_tables(person)
    assert any("personalization_customer.email" in t for t in before), before  # the scan sees what there is

    erase(person)

    found = traces_in_tables(person)
    assert not found, "the erased person is still in the database:\n" + "\n".join(found)


@pytest.mark.parametrize("erase", [erase_directly, erase_by_request], ids=["service", "request"])
def test_erasure_leaves_no_trace_of_the_person_in_redis(person, erase, django_capture_on_commit_callbacks):
    assert len(traces_in_redis(person)) >= 2  # the scan sees what there is

    erase(person, django_capture_on_commit_callbacks)

    found = traces_in_redis(person)
    assert not found, "the erased person is still in Redis:\n" + "\n".join(found)


def test_erasure_deletes_linked_events_and_events_carrying_only_the_persons_ids(erased):
    assert not Event.objects.filter(message_id__in=erased.event_ids).exists()


def test_erasure_deletes_the_persons_preference_changes(erased):
    assert not PreferenceChange.objects.filter(pk=erased.preference.pk).exists()


def test_erasure_deletes_the_persons_subscription_requests(erased):
    assert not OptInRequest.objects.filter(pk=erased.opt_in.pk).exists()


def test_erasure_empties_the_document_of_the_persons_earlier_export(erased):
    erased.export.refresh_from_db()
    assert erased.export.document is None
    assert erased.export.customer_id is None


def test_erasure_deletes_the_persons_consent_grants(person, bystander):
    erase_directly(person)
    grants = ConsentRecord.objects.filter(decision=Decision.GRANTED)
    assert list(grants.values_list("customer_id", flat=True)) == [bystander.pk]


def test_erasure_keeps_the_persons_withdrawals_without_personal_data(erased):
    kept = ConsentRecord.objects.get(pk=erased.withdrawal.pk)
    assert kept.customer_id is None
    assert kept.subject_hash == address_hash(erased.email)
    assert kept.proof == {}
    assert (kept.purpose, kept.decision, kept.source) == (Purpose.PERSONALIZATION, Decision.WITHDRAWN, "admin")


def test_erasure_records_one_erasure_withdrawal_per_purpose(erased):
    records = ConsentRecord.objects.filter(subject_hash=address_hash(erased.email), source=ConsentSource.ERASURE)
    assert sorted(records.values_list("purpose", flat=True)) == sorted(Purpose.values)
    assert {(r.decision, r.customer_id, r.topic_id) for r in records} == {(Decision.WITHDRAWN, None, None)}


def test_erasure_keeps_the_address_suppressed(erased):
    assert is_suppressed(erased.email)
    assert suppression_for(erased.email).reason == SuppressionReason.ERASURE


def test_erasure_keeps_the_address_suppressed_so_a_reimport_stays_blocked(erased):
    imported = consents_import_csv(
        content=f"email,purpose,decision\n{erased.email.upper()},email_marketing,granted\n".encode(),
        source=ConsentSource.IMPORT,
        policy_version="1",
        actor="staff:priya",
    )
    recreated = customer_find(email=erased.email)
    assert imported.customers_created == 1
    assert consent_state(customer=recreated).purposes[Purpose.EMAIL_MARKETING] == Decision.GRANTED
    assert can_email(recreated, None) is False


def test_erasure_remembers_a_hash_of_every_id_the_person_used(erased, bystander):
    assert erased_among(emails=[erased.email, bystander.email]) == {erased.email}
    assert erased_among(user_ids=[erased.external_id, bystander.external_id]) == {erased.external_id}
    assert erased_among(anonymous_ids=[erased.anonymous_id, "anon-else"]) == {erased.anonymous_id}
    assert ErasedIdentifier.objects.filter(kind=ErasedIdentifier.Kind.EMAIL).count() == 1


def test_erasure_clears_the_persons_cache_entries_and_only_theirs(
    person, bystander, django_capture_on_commit_callbacks
):
    erase_directly(person, django_capture_on_commit_callbacks)
    assert cache.get_many(person.cache_keys) == {}
    assert cache.get(f"{customer_cache_prefix(bystander.pk)}profile") == {"email": bystander.email}


def test_erasure_leaves_other_people_alone(person, bystander):
    erase_directly(person)
    bystander.refresh_from_db()
    assert bystander.identities.count() == 1
    assert Event.objects.filter(customer=bystander).count() == 1
    assert can_email(bystander)
    assert not is_suppressed(bystander.email)


def test_an_erasure_request_completes_and_keeps_only_a_hash_of_whose_it_was(person):
    request = data_request_create(kind=RequestKind.ERASURE, customer=person.customer, requested_by="staff:priya")

    data_request_run(request_id=request.pk)

    request.refresh_from_db()
    assert (request.status, request.failure) == (RequestStatus.COMPLETED, "")
    assert request.customer_id is None
    assert request.subject_hash == address_hash(person.email)
    assert not Customer.objects.filter(pk=person.customer_id).exists()


# --- links sent before the erasure ----------------------------------------------------


def _path(url: str) -> str:
    assert url.startswith(settings.TAILOR_BASE_URL)
    return url.removeprefix(settings.TAILOR_BASE_URL)


def test_an_unsubscribe_link_sent_before_erasure_answers_410_afterwards(person, client):
    link = _path(unsubscribe_url(customer=person.customer, topic="newsletter"))
    erase_directly(person)

    response = client.get(link)

    assert response.status_code == 410


def test_using_an_unsubscribe_link_after_erasure_changes_nothing(person, client):
    link = _path(unsubscribe_url(customer=person.customer))
    erase_directly(person)
    ledger, suppressions = list(ConsentRecord.objects.values()), list(Suppression.objects.values())

    response = client.post(link, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 410
    assert list(ConsentRecord.objects.values()) == ledger
    assert list(Suppression.objects.values()) == suppressions


# --- all or nothing -------------------------------------------------------------------


def _erase_in_a_transaction_that_fails(person: Person) -> None:
    """Erase, then break the same transaction on purpose: the address is suppressed once already."""
    with pytest.raises(IntegrityError), transaction.atomic():
        subject_erase(customer=person.customer)
        Suppression.objects.create(address_hash=address_hash(person.email), reason=SuppressionReason.MANUAL)


def test_an_erasure_whose_transaction_fails_leaves_the_person_whole(person):
    _erase_in_a_transaction_that_fails(person)

    assert Customer.objects.filter(pk=person.customer_id).exists()
    assert Event.objects.filter(message_id__in=person.event_ids).count() == len(person.event_ids)
    assert ConsentRecord.objects.filter(customer_id=person.customer_id).count() == 5
    assert PreferenceChange.objects.filter(pk=person.preference.pk).exists()
    assert OptInRequest.objects.filter(pk=person.opt_in.pk).exists()
    assert DataSubjectRequest.objects.get(pk=person.export.pk).document is not None
    assert not ConsentRecord.objects.filter(source=ConsentSource.ERASURE).exists()
    assert not ErasedIdentifier.objects.exists()
    assert not is_suppressed(person.email)


def test_an_erasure_whose_transaction_fails_leaves_the_cache_as_it_was(person, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _erase_in_a_transaction_that_fails(person)

    assert set(cache.get_many(person.cache_keys)) == set(person.cache_keys)
