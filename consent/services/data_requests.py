"""Data subject requests: export (GDPR Art. 15, 20) and erasure (Art. 17)."""

from django.db import transaction
from django.utils import timezone

from consent.models import (
    ConsentRecord,
    ConsentSource,
    DataSubjectRequest,
    Decision,
    ErasedIdentifier,
    PreferenceChange,
    Purpose,
    RequestKind,
    RequestLogEntry,
    RequestStatus,
    SuppressionReason,
)
from consent.selectors import address_hash, identifier_hash, subject_export_document, subject_hash_for
from consent.services.ledger import suppression_add
from core.append_only import erasure_window
from core.cache import address_cache_prefix, cache_delete_prefix, customer_cache_prefix
from core.errors import NotFound
from personalization.models import Customer
from personalization.selectors import customer_identifiers
from personalization.services import customer_erase


def _log(request: DataSubjectRequest, actor: str, message: str) -> None:
    RequestLogEntry.objects.create(request=request, actor=actor, message=message)


def data_request_create(*, kind: str, customer: Customer | None, requested_by: str) -> DataSubjectRequest:
    """Open a request and queue its work; the person is named only by id and hash from here on."""
    if customer is None:
        raise NotFound("There is no such customer; they may have been erased already.")
    request = DataSubjectRequest.objects.create(
        kind=kind, customer=customer, subject_hash=subject_hash_for(customer), requested_by=requested_by
    )
    _log(request, requested_by, f"{request.get_kind_display()} requested.")
    from consent.tasks import data_request_run_task  # tasks import this module

    transaction.on_commit(lambda: data_request_run_task.delay(request.pk))
    return request


def data_request_run(*, request_id: int) -> DataSubjectRequest:
    """Carry out a request. Safe to run twice: a completed request is left as it is."""
    with transaction.atomic():
        request = DataSubjectRequest.objects.select_for_update().get(pk=request_id)
        if request.status == RequestStatus.COMPLETED:
            return request
        request.status, request.started_at = RequestStatus.RUNNING, timezone.now()
        request.save(update_fields=["status", "started_at", "updated_at"])
        _log(request, "system", "Started.")
    try:
        summary = _carry_out(request)
    except Exception as exc:
        request.refresh_from_db()
        request.status, request.failure = RequestStatus.FAILED, f"{type(exc).__name__}: {exc}"
        request.save(update_fields=["status", "failure", "updated_at"])
        _log(request, "system", f"Failed: {request.failure}")
        raise
    request.refresh_from_db()  # an erasure has just deleted the customer this request pointed at
    request.status, request.completed_at, request.failure = RequestStatus.COMPLETED, timezone.now(), ""
    request.save(update_fields=["status", "completed_at", "failure", "updated_at"])
    _log(request, "system", f"Completed: {summary}")
    return request


def _carry_out(request: DataSubjectRequest) -> str:
    customer = request.customer
    if request.kind == RequestKind.EXPORT:
        if customer is None:
            raise NotFound("The person's data was erased before the export could run.")
        request.document = subject_export_document(customer=customer)
        request.save(update_fields=["document", "updated_at"])
        document = request.document
        return f"{len(document['events'])} events and {len(document['consent']['history'])} ledger entries exported."
    if customer is None:
        return "nothing left to erase."
    counts = subject_erase(customer=customer, keep_request=request)
    return ", ".join(f"{name}: {count}" for name, count in counts.items()) + "."


def subject_erase(*, customer: Customer, keep_request: DataSubjectRequest | None = None) -> dict[str, int]:
    """Forget a person: delete their profile, identities, events, preferences and exports; keep
    only the suppression of their address and proof, stripped of personal data, that their
    consent was withdrawn. All or nothing; the cache is cleared once it is committed."""
    # Imported here: tracking asks consent at every event, so consent reaches back only when it must.
    from tracking.services import events_erase

    identifiers = customer_identifiers(customer=customer)
    subject = subject_hash_for(customer)
    customer_id = customer.pk
    with erasure_window():
        records = ConsentRecord.objects.filter(customer=customer)
        grants, _ = records.filter(decision=Decision.GRANTED).delete()
        withdrawals = records.update(customer=None, subject_hash=subject, proof={})
        ConsentRecord.objects.bulk_create(
            ConsentRecord(
                subject_hash=subject,
                purpose=purpose,
                decision=Decision.WITHDRAWN,
                source=ConsentSource.ERASURE,
                actor="system",
                wording="Erased at the person's request.",
            )
            for purpose in Purpose.values
        )
        preferences, _ = PreferenceChange.objects.filter(customer=customer).delete()
        exports = (
            DataSubjectRequest.objects.filter(customer=customer, document__isnull=False)
            .exclude(pk=getattr(keep_request, "pk", None))
            .update(document=None)
        )
        if identifiers.email:
            suppression_add(email=identifiers.email, reason=SuppressionReason.ERASURE)
        _remember_erased(identifiers)
        events = events_erase(
            customer_id=customer_id, user_ids=identifiers.user_ids, anonymous_ids=identifiers.anonymous_ids
        )
        customer_erase(customer=customer)
    transaction.on_commit(lambda: _forget_cached(customer_id, identifiers.email))
    return {
        "events deleted": events,
        "consent grants deleted": grants,
        "withdrawals kept without personal data": withdrawals,
        "preference changes deleted": preferences,
        "exports deleted": exports,
    }


def _remember_erased(identifiers) -> None:
    kinds = ErasedIdentifier.Kind
    rows = [(kinds.EMAIL, identifiers.email)] if identifiers.email else []
    rows += [(kinds.USER_ID, value) for value in identifiers.user_ids]
    rows += [(kinds.ANONYMOUS_ID, value) for value in identifiers.anonymous_ids]
    ErasedIdentifier.objects.bulk_create(
        [ErasedIdentifier(kind=kind, value_hash=identifier_hash(value)) for kind, value in rows],
        ignore_conflicts=True,
    )


def _forget_cached(customer_id: int, email: str) -> None:
    cache_delete_prefix(customer_cache_prefix(customer_id))
    if email:
        cache_delete_prefix(address_cache_prefix(address_hash(email)))
