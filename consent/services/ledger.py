"""Appending to the consent ledger, preferences and the suppression list."""

from datetime import datetime, timedelta

from django.utils import timezone

from consent.models import (
    ConsentRecord,
    ConsentSource,
    Decision,
    Frequency,
    PreferenceChange,
    Purpose,
    Suppression,
    SuppressionReason,
    Topic,
)
from consent.selectors import address_hash, consent_state, preference_current
from consent.signals import consent_changed_announce
from core.errors import NotFound, ValidationError
from core.normalize import email_normalize
from personalization.models import Customer

# When an address is suppressed twice, the stronger reason is kept: only the
# weakest ones are lifted by a fresh opt-in.
REASON_STRENGTH = [
    SuppressionReason.UNSUBSCRIBE,
    SuppressionReason.ERASURE,
    SuppressionReason.MANUAL,
    SuppressionReason.HARD_BOUNCE,
    SuppressionReason.COMPLAINT,
]


def _choice(value: str, choices, what: str) -> str:
    if value not in choices.values:
        raise ValidationError(
            f"Unknown {what} {value!r}: use one of {', '.join(choices.values)}.", details={what: [value]}
        )
    return value


def topic_get(slug: str) -> Topic:
    topic = Topic.objects.filter(slug=slug, is_active=True).first()
    if topic is None:
        known = ", ".join(Topic.objects.filter(is_active=True).values_list("slug", flat=True))
        raise ValidationError(f"Unknown topic {slug!r}: use one of {known}.", details={"topic": [slug]})
    return topic


def consent_record_check(
    *, customer: Customer | None, purpose: str, decision: str, source: str, topic: str | None
) -> Topic | None:
    """Refuse a decision that cannot be recorded, saying why; return its topic."""
    if customer is None or customer.pk is None:
        raise NotFound("There is no such customer; they may have been erased.")
    _choice(purpose, Purpose, "purpose")
    _choice(decision, Decision, "decision")
    _choice(source, ConsentSource, "source")
    topic_obj = topic_get(topic) if topic else None
    if topic_obj and purpose != Purpose.EMAIL_MARKETING:
        raise ValidationError("Topics belong to email marketing only.", details={"topic": [topic]})
    if decision == Decision.GRANTED and purpose == Purpose.EMAIL_MARKETING and not customer.email:
        raise ValidationError("This customer has no email address to send marketing email to.")
    return topic_obj


def consent_record(
    *,
    customer: Customer | None,
    purpose: str,
    decision: str,
    source: str,
    actor: str,
    topic: str | None = None,
    policy_version: str = "",
    wording: str = "",
    proof: dict | None = None,
    recorded_at: datetime | None = None,
) -> ConsentRecord:
    """Append one decision to the ledger. There is no way to change it afterwards."""
    topic_obj = consent_record_check(customer=customer, purpose=purpose, decision=decision, source=source, topic=topic)
    consent_changed_announce(customer.pk)
    return ConsentRecord.objects.create(
        customer=customer,
        purpose=purpose,
        topic=topic_obj,
        decision=decision,
        source=source,
        actor=actor,
        policy_version=policy_version,
        wording=wording,
        proof=proof or {},
        recorded_at=recorded_at or timezone.now(),
    )


def consent_grant(**fields) -> ConsentRecord:
    """Record a yes."""
    return consent_record(decision=Decision.GRANTED, **fields)


def consent_withdraw(**fields) -> ConsentRecord:
    """Record a no. It takes effect with the next question asked of consent.selectors."""
    return consent_record(decision=Decision.WITHDRAWN, **fields)


def email_marketing_stop(*, customer: Customer, source: str, actor: str, proof: dict, reason: str) -> None:
    """Stop all marketing email to a person: withdraw the purpose and suppress the address."""
    consent_withdraw(customer=customer, purpose=Purpose.EMAIL_MARKETING, source=source, actor=actor, proof=proof)
    if customer.email:
        suppression_add(email=customer.email, reason=reason)


def tracking_stop_for_gpc(*, customer: Customer, proof: dict) -> bool:
    """A Global Privacy Control signal opts the profile it links to out of tracking; True if that changed anything."""
    if consent_state(customer=customer).purposes[Purpose.TRACKING] == Decision.WITHDRAWN:
        return False
    consent_withdraw(
        customer=customer,
        purpose=Purpose.TRACKING,
        source=ConsentSource.GPC,
        actor="person",
        wording="Sec-GPC: 1 (Global Privacy Control)",
        proof=proof,
    )
    return True


def preferences_change(
    *,
    customer: Customer,
    source: str,
    actor: str,
    proof: dict,
    frequency: str | None = None,
    pause_days: int | None = None,
    resume: bool = False,
) -> PreferenceChange | None:
    """Record a new frequency or pause; None when nothing changes."""
    current = preference_current(customer=customer)
    now = timezone.now()
    old_frequency = current.frequency if current else Frequency.ANY
    old_paused_until = current.paused_until if current and current.paused_until and current.paused_until > now else None
    new_frequency = _choice(frequency, Frequency, "frequency") if frequency else old_frequency
    if resume:
        new_paused_until = None
    elif pause_days:
        if not 1 <= pause_days <= 365:
            raise ValidationError("A pause lasts from 1 to 365 days.", details={"pause_days": [pause_days]})
        new_paused_until = now + timedelta(days=pause_days)
    else:
        new_paused_until = old_paused_until
    if (new_frequency, new_paused_until) == (old_frequency, old_paused_until):
        return None
    consent_changed_announce(customer.pk)
    return PreferenceChange.objects.create(
        customer=customer,
        frequency=new_frequency,
        paused_until=new_paused_until,
        source=source,
        actor=actor,
        proof=proof,
    )


def suppression_add(*, email: str, reason: str, note: str = "") -> Suppression:
    """Suppress an address; a stronger reason replaces a weaker one."""
    _choice(reason, SuppressionReason, "reason")
    suppression, created = Suppression.objects.get_or_create(
        address_hash=address_hash(email), defaults={"reason": reason, "note": note}
    )
    if not created and REASON_STRENGTH.index(reason) > REASON_STRENGTH.index(suppression.reason):
        suppression.reason, suppression.note = reason, note
        suppression.save(update_fields=["reason", "note", "updated_at"])
    consent_changed_announce(*Customer.objects.filter(email=email_normalize(email)).values_list("pk", flat=True))
    return suppression


def suppression_lift(*, email: str, reasons: tuple[str, ...]) -> bool:
    """Lift the suppression of an address if its reason is one of `reasons`."""
    deleted, _ = Suppression.objects.filter(address_hash=address_hash(email), reason__in=reasons).delete()
    if deleted:
        consent_changed_announce(*Customer.objects.filter(email=email_normalize(email)).values_list("pk", flat=True))
    return bool(deleted)


def consent_carry_over(*, source: Customer, into: Customer) -> int:
    """When `source` is merged into `into`, copy `source`'s latest decisions and preference
    that are newer than `into`'s: records are evidence and cannot move. Return how many."""

    def latest(customer) -> dict:
        found = {}
        for record in ConsentRecord.objects.filter(customer=customer).order_by("recorded_at", "id"):
            found[(record.purpose, record.topic_id)] = record
        return found

    theirs, ours = latest(source), latest(into)
    copies = [
        ConsentRecord(
            customer=into,
            purpose=record.purpose,
            topic_id=record.topic_id,
            decision=record.decision,
            source=ConsentSource.PROFILE_MERGE,
            policy_version=record.policy_version,
            wording=record.wording,
            proof={"merged_from_customer": source.pk, "record": record.pk, "original_source": record.source},
            actor="system",
            recorded_at=record.recorded_at,
        )
        for key, record in theirs.items()
        if key not in ours or record.recorded_at > ours[key].recorded_at
    ]
    ConsentRecord.objects.bulk_create(copies)
    consent_changed_announce(into.pk)
    their_preference, our_preference = preference_current(customer=source), preference_current(customer=into)
    if their_preference and (our_preference is None or their_preference.recorded_at > our_preference.recorded_at):
        PreferenceChange.objects.create(
            customer=into,
            frequency=their_preference.frequency,
            paused_until=their_preference.paused_until,
            source=ConsentSource.PROFILE_MERGE,
            actor="system",
            proof={"merged_from_customer": source.pk, "preference": their_preference.pk},
            recorded_at=their_preference.recorded_at,
        )
    return len(copies)
