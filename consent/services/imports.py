"""Recording consents that were collected elsewhere: from a CSV file in the
admin, or from rows a program builds (the demo store)."""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose, Topic
from consent.signals import consent_changed_announce
from core.errors import ValidationError
from core.normalize import email_normalize
from personalization.services import customers_for_emails

REQUIRED_COLUMNS = ("email", "purpose", "decision")
OPTIONAL_COLUMNS = ("topic", "recorded_at")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ConsentRow:
    email: str
    purpose: str
    decision: str
    topic: str = ""  # a topic slug, with email_marketing only
    recorded_at: datetime | None = None  # when the person decided; now if unknown


@dataclass(frozen=True)
class ConsentsImported:
    records: int
    customers_created: int


def consents_import(
    *, rows: Sequence[ConsentRow], source: str, policy_version: str, actor: str, proof: dict | None = None
) -> ConsentsImported:
    """Check every row, then record all of them or none; customers are created for unknown addresses."""
    _check_batch(source, policy_version)
    topics = {t.slug: t for t in Topic.objects.all()}
    problems = [f"row {i}: {problem}" for i, row in enumerate(rows) if (problem := _row_problem(row, topics))]
    _refuse(problems)
    return _record(rows, topics, source=source, policy_version=policy_version, actor=actor, proof=proof or {})


def consents_import_csv(*, content: bytes, source: str, policy_version: str, actor: str) -> ConsentsImported:
    """Import a CSV file (columns email, purpose, decision, and optionally topic, recorded_at).
    Errors name the line and the reason, and nothing is imported unless every row is right."""
    _check_batch(source, policy_version)
    reader = csv.DictReader(io.StringIO(_decoded(content)), restkey=_EXTRA_CELLS)
    _check_header(reader.fieldnames)
    topics = {t.slug: t for t in Topic.objects.all()}
    rows, problems = [], []
    for cells in reader:
        if reader.line_num > MAX_ROWS + 1:
            raise ValidationError(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")
        try:
            row = _row_from_cells(cells)
        except ValueError as exc:
            problems.append(f"line {reader.line_num}: {exc}")
            continue
        if problem := _row_problem(row, topics):
            problems.append(f"line {reader.line_num}: {problem}")
        rows.append(row)
    _refuse(problems)
    if not rows:
        raise ValidationError("The file has a header but no rows.")
    return _record(rows, topics, source=source, policy_version=policy_version, actor=actor, proof={"import": "csv"})


_EXTRA_CELLS = "\x00extra"


def _check_batch(source: str, policy_version: str) -> None:
    if source not in ConsentSource.values:
        raise ValidationError(f"Unknown source {source!r}: use one of {', '.join(ConsentSource.values)}.")
    if not policy_version.strip():
        raise ValidationError("Give the version of the policy these people agreed to.")


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ValidationError(
            f"{len(problems)} row(s) cannot be imported; nothing was imported. Fix them and upload the file again.",
            details=problems,
        )


def _record(rows, topics, *, source, policy_version, actor, proof) -> ConsentsImported:
    with transaction.atomic():
        customers, created = customers_for_emails(emails=[row.email for row in rows])
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    customer=customers[email_normalize(row.email)],
                    purpose=row.purpose,
                    topic=topics[row.topic] if row.topic else None,
                    decision=row.decision,
                    source=source,
                    policy_version=policy_version,
                    actor=actor,
                    proof=proof,
                    recorded_at=row.recorded_at or timezone.now(),
                )
                for row in rows
            ],
            batch_size=1000,
        )
        consent_changed_announce(*(customer.pk for customer in customers.values()))
    return ConsentsImported(records=len(rows), customers_created=created)


def _row_problem(row: ConsentRow, topics: dict[str, Topic]) -> str | None:
    """What is wrong with a row, in words; None if nothing."""
    try:
        validate_email(email_normalize(row.email))
    except DjangoValidationError:
        return f"{row.email!r} is not an email address"
    if row.purpose not in Purpose.values:
        return f"unknown purpose {row.purpose!r} (use {', '.join(Purpose.values)})"
    if row.decision not in Decision.values:
        return f"unknown decision {row.decision!r} (use {', '.join(Decision.values)})"
    if row.topic and row.topic not in topics:
        return f"unknown topic {row.topic!r} (use {', '.join(topics)})"
    if row.topic and row.purpose != Purpose.EMAIL_MARKETING:
        return "a topic goes with the email_marketing purpose only"
    if row.recorded_at and row.recorded_at > timezone.now():
        return "recorded_at is in the future"
    return None


def _decoded(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The file is not UTF-8: the byte 0x{content[exc.start]:02x} at position {exc.start} cannot be read. "
            "Save it as “CSV UTF-8” and upload it again."
        ) from exc


def _check_header(fieldnames: list[str] | None) -> None:
    if not fieldnames:
        raise ValidationError(
            f"The file is empty. Its first line must name the columns: {', '.join(REQUIRED_COLUMNS)}."
        )
    columns = [name.strip().lower() for name in fieldnames]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"unknown {', '.join(unknown)}"] if unknown else []
    )
    if problems:
        raise ValidationError(
            f"The columns are not right: {'; '.join(problems)}. "
            f"Expected {', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}.",
            details={"missing": missing, "unknown": unknown},
        )


def _row_from_cells(cells: dict) -> ConsentRow:
    if _EXTRA_CELLS in cells:
        raise ValueError(f"{len(cells[_EXTRA_CELLS])} more cell(s) than there are columns (a stray comma?)")
    cells = {(k or "").strip().lower(): (v or "").strip() for k, v in cells.items()}
    recorded_at = None
    if cells.get("recorded_at"):
        recorded_at = parse_datetime(cells["recorded_at"])
        if recorded_at is None or timezone.is_naive(recorded_at):
            raise ValueError(f"recorded_at {cells['recorded_at']!r} is not an ISO 8601 time with a zone")
    return ConsentRow(
        email=cells["email"],
        purpose=cells["purpose"],
        decision=cells["decision"],
        topic=cells.get("topic", ""),
        recorded_at=recorded_at,
    )
