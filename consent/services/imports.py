"""Importing consents that were collected elsewhere, from a CSV file."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose, Topic
from core.errors import ValidationError
from core.normalize import email_normalize
from personalization.services import customers_for_emails

REQUIRED_COLUMNS = ("email", "purpose", "decision")
OPTIONAL_COLUMNS = ("topic", "recorded_at")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ConsentsImported:
    records: int
    customers_created: int


@dataclass(frozen=True)
class _Row:
    email: str
    purpose: str
    decision: str
    topic: Topic | None
    recorded_at: datetime | None


def consents_import_csv(*, content: bytes, source: str, policy_version: str, actor: str) -> ConsentsImported:
    """Validate every row, then import all of them or none. Errors name the line and the reason."""
    if source not in ConsentSource.values:
        raise ValidationError(f"Unknown source {source!r}: use one of {', '.join(ConsentSource.values)}.")
    if not policy_version.strip():
        raise ValidationError("Give the version of the policy these people agreed to.")
    reader = csv.DictReader(io.StringIO(_decoded(content)))
    _check_header(reader.fieldnames)
    topics = {t.slug: t for t in Topic.objects.all()}
    rows, problems = [], []
    for row in reader:
        if len(rows) + len(problems) >= MAX_ROWS:
            raise ValidationError(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")
        try:
            rows.append(_parsed(row, topics))
        except ValueError as exc:
            problems.append(f"line {reader.line_num}: {exc}")
    if problems:
        raise ValidationError(
            f"{len(problems)} row(s) cannot be imported; nothing was imported. Fix them and upload the file again.",
            details=problems,
        )
    if not rows:
        raise ValidationError("The file has a header but no rows.")
    with transaction.atomic():
        customers, created = customers_for_emails(emails=[r.email for r in rows])
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    customer=customers[r.email],
                    purpose=r.purpose,
                    topic=r.topic,
                    decision=r.decision,
                    source=source,
                    policy_version=policy_version,
                    actor=actor,
                    proof={"import": "csv"},
                    recorded_at=r.recorded_at or timezone.now(),
                )
                for r in rows
            ],
            batch_size=1000,
        )
    return ConsentsImported(records=len(rows), customers_created=created)


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


def _parsed(row: dict, topics: dict[str, Topic]) -> _Row:
    row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
    email = email_normalize(row["email"])
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValueError(f"{row['email']!r} is not an email address") from None
    if row["purpose"] not in Purpose.values:
        raise ValueError(f"unknown purpose {row['purpose']!r} (use {', '.join(Purpose.values)})")
    if row["decision"] not in Decision.values:
        raise ValueError(f"unknown decision {row['decision']!r} (use {', '.join(Decision.values)})")
    topic = None
    if row.get("topic"):
        topic = topics.get(row["topic"])
        if topic is None:
            raise ValueError(f"unknown topic {row['topic']!r} (use {', '.join(topics)})")
        if row["purpose"] != Purpose.EMAIL_MARKETING:
            raise ValueError("a topic goes with the email_marketing purpose only")
    recorded_at = None
    if row.get("recorded_at"):
        recorded_at = parse_datetime(row["recorded_at"])
        if recorded_at is None or timezone.is_naive(recorded_at):
            raise ValueError(f"recorded_at {row['recorded_at']!r} is not an ISO 8601 time with a zone")
        if recorded_at > timezone.now():
            raise ValueError("recorded_at is in the future")
    return _Row(email=email, purpose=row["purpose"], decision=row["decision"], topic=topic, recorded_at=recorded_at)
