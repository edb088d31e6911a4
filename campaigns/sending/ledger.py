"""The sending ledger's moves: exactly once, as far as an ESP allows.

A row is claimed before the ESP call and marked sent, with the ESP's message id, after
it. A batch claims its rows in one statement, numbered (`claim_order`), and holds a
Postgres advisory lock named after its claim while it sends them one by one in that
order, committing each row's "sent" before the next ESP call. So when a worker dies:

- its lock goes with its connection, which is how `claims_recover` knows the claim is
  dead (a slow worker still holds it: never taken over);
- its sent rows are marked, and of its claimed rows only the first in claim order can
  have been handed to the ESP (the call in flight when it died): that one is marked
  IN_DOUBT and not sent again, the others go back to PLANNED and are sent by the next
  batch. This is the one window that cannot be closed without the ESP's help: a single
  message per dead worker, which is never sent twice and is shown, not hidden (an ESP
  webhook about it later names it by its id in the metadata).

On SQLite (the embedded mode, one process) there are no advisory locks: a claim is
dead when it is older than CLAIM_TIMEOUT.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from core.db import rows_update

CLAIM_TIMEOUT = timedelta(minutes=10)  # SQLite only
# A row given back is as planned: unclaimed and unprepared.
UNCLAIMED = {"status": MessageStatus.PLANNED, "claim": "", "claim_order": None, "claimed_at": None,
             "personalized": None}  # fmt: skip


def _lock_key(claim: str) -> int:
    return int.from_bytes(hashlib.sha256(f"tailor-claim:{claim}".encode()).digest()[:8], "big", signed=True)


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def claim_lock(claim: str) -> None:
    if _on_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(claim)])


def claim_unlock(claim: str) -> None:
    if _on_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(claim)])


def batch_claim(*, campaign_id: int, size: int, now: datetime) -> tuple[str, list[int]]:
    """Claim up to `size` due rows of the campaign (ids in the order they must be sent),
    under a new claim whose lock the caller holds until it releases it."""
    claim = secrets.token_hex(8)
    claim_lock(claim)
    with transaction.atomic():
        due = (
            Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.PLANNED)
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:size]
        )
        ids = list(due)
        if ids:
            _claimed_mark(ids, claim, now)
    if not ids:
        claim_unlock(claim)
    return claim, ids


def _claimed_mark(ids: list[int], claim: str, now: datetime) -> None:
    """The rows claimed, numbered in the order of `ids`, in one statement (a bulk_update's
    CASE per row and field costs more Python than the send itself)."""
    rows = [Message(pk=pk, claim=claim, claim_order=i, claimed_at=now, status=MessageStatus.CLAIMED)
            for i, pk in enumerate(ids)]  # fmt: skip
    rows_update(Message, rows, fields=["claim", "claim_order", "claimed_at", "status"])


def message_mark_sent(*, message_id: int, esp_message_id: str, now: datetime) -> None:
    """Committed at once, before the next ESP call: the ledger says what the ESP has.
    The ORM's statement, written out: it runs once per message sent, and building it
    cost more CPU than the ESP call."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} SET status = %s, esp_message_id = %s, sent_at = %s"
            " WHERE id = %s AND status = %s",
            [MessageStatus.SENT, esp_message_id[:255], connection.ops.adapt_datetimefield_value(now), message_id,
             MessageStatus.CLAIMED],
        )  # fmt: skip


def message_mark_failed(*, message_id: int, reason: str) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.CLAIMED).update(
        status=MessageStatus.FAILED, failure=reason[:2000]
    )


def message_mark_in_doubt(*, message_id: int, reason: str) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.CLAIMED).update(
        status=MessageStatus.IN_DOUBT, failure=reason[:2000]
    )


def messages_register(*, rows: list[Message]) -> None:
    """What each claimed row will send (subject, links, personalized, template version), saved."""
    rows_update(Message, rows, fields=["subject", "links", "personalized", "template_version"])


def messages_skip(*, message_ids: list[int], reason: str) -> None:
    """Claimed rows no longer allowed at send time (a withdrawal since planning)."""
    Message.objects.filter(pk__in=message_ids, status=MessageStatus.CLAIMED).update(
        status=MessageStatus.SKIPPED, failure=reason
    )


def claim_release(*, claim: str) -> int:
    """Give back the rows of a live claim that were not attempted (pause, transient error)."""
    returned = Message.objects.filter(claim=claim, status=MessageStatus.CLAIMED).update(**UNCLAIMED)
    claim_unlock(claim)
    return returned


def _claim_is_dead(claim: str, claimed_at: datetime, now: datetime) -> bool:
    if not _on_postgres():
        return now - claimed_at > CLAIM_TIMEOUT
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(claim)])
        [taken] = cursor.fetchone()
    return bool(taken)


def claims_recover(*, campaign_id: int | None = None) -> tuple[int, int]:
    """Recover the claims of dead workers. Returns (rows planned again, rows in doubt)."""
    now = timezone.now()
    claimed = Message.objects.filter(status=MessageStatus.CLAIMED)
    if campaign_id is not None:
        claimed = claimed.filter(campaign_id=campaign_id)
    replanned = in_doubt = 0
    for claim, claimed_at in claimed.values_list("claim").annotate(Min("claimed_at")):
        if _claim_is_dead(claim, claimed_at, now):
            again, doubted = _claim_recover(claim)
            replanned, in_doubt = replanned + again, in_doubt + doubted
            claim_unlock(claim)
    return replanned, in_doubt


@transaction.atomic
def _claim_recover(claim: str) -> tuple[int, int]:
    rows = Message.objects.filter(claim=claim, status=MessageStatus.CLAIMED).select_for_update()
    # A batch renders all its rows and registers them (`messages_prepare`, which sets
    # `personalized`) before its first ESP call: unregistered rows were never attempted.
    # Once registered, the first row still claimed is the one whose call may have been in flight.
    first = rows.filter(personalized__isnull=False).order_by("claim_order").values_list("pk", flat=True).first()
    doubted = 0
    if first is not None:
        message_mark_in_doubt(message_id=first, reason="The worker stopped during the ESP call: not sent again.")
        doubted = 1
    again = rows.exclude(pk=first).update(**UNCLAIMED)
    return again, doubted
