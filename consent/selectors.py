"""Reads of the consent app, and the one place where consent is decided.

Every app asks `can_email`, `can_track` or `can_personalize` (or their bulk
forms for querysets) before it sends, stores behavior, or uses a profile to
choose content. The answers are computed from the ledger at the moment of
asking, so a withdrawal blocks at once.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower, Trim
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
    Suppression,
    Topic,
)
from core.db import Sha256Hex
from core.normalize import email_normalize
from core.signing import token_make, token_read
from personalization.models import Customer
from personalization.selectors import customer_export, customer_identifiers
from tracking.selectors import events_export

LINK_MAX_AGE = timedelta(days=400)  # a link in last year's email still works
OPT_IN_MAX_AGE = timedelta(days=7)


def address_hash(email: str) -> str:
    """SHA-256 of the normalized address: how suppressions and erased people are remembered."""
    return hashlib.sha256(email_normalize(email).encode()).hexdigest()


def identifier_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- the decision -----------------------------------------------------------------


@dataclass(frozen=True)
class ConsentState:
    """A person's consent as the ledger says now."""

    customer_id: int
    purposes: dict[str, str | None]  # purpose -> decision; None when never asked
    topics: dict[str, str | None]  # active topic slug -> decision
    frequency: str
    paused_until: datetime | None
    suppressed: bool
    has_email: bool
    regime: str = field(default_factory=lambda: settings.CONSENT_REGIME)

    @property
    def paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > timezone.now()

    def allows(self, purpose: str) -> bool:
        decision = self.purposes.get(purpose)
        if purpose == Purpose.EMAIL_MARKETING or decision is not None:
            return decision == Decision.GRANTED
        return self.regime == "opt-out"

    def allows_email(self, topic: str | None = None) -> bool:
        if not self.has_email or self.suppressed or self.paused or not self.allows(Purpose.EMAIL_MARKETING):
            return False
        return topic is None or self.topics.get(topic) == Decision.GRANTED


def _latest_decisions(customer: Customer) -> dict[tuple[str, int | None], str]:
    latest: dict[tuple[str, int | None], str] = {}
    records = ConsentRecord.objects.filter(customer=customer).order_by("recorded_at", "id")
    for purpose, topic_id, decision in records.values_list("purpose", "topic_id", "decision"):
        latest[(purpose, topic_id)] = decision  # later records overwrite earlier ones
    return latest


def preference_current(*, customer: Customer) -> PreferenceChange | None:
    return PreferenceChange.objects.filter(customer=customer).order_by("-recorded_at", "-id").first()


def consent_state(*, customer: Customer) -> ConsentState:
    latest = _latest_decisions(customer)
    topics = {t.slug: latest.get((Purpose.EMAIL_MARKETING, t.pk)) for t in topics_active()}
    preference = preference_current(customer=customer)
    return ConsentState(
        customer_id=customer.pk,
        purposes={p.value: latest.get((p.value, None)) for p in Purpose},
        topics=topics,
        frequency=preference.frequency if preference else Frequency.ANY,
        paused_until=preference.paused_until if preference else None,
        suppressed=bool(customer.email) and is_suppressed(customer.email),
        has_email=bool(customer.email),
    )


def can_email(customer: Customer | None, topic: str | None = None) -> bool:
    """May this person get marketing email (of this topic) now?"""
    return customer is not None and customer.pk is not None and consent_state(customer=customer).allows_email(topic)


@dataclass(frozen=True)
class TrackingQuestion:
    """May the behavior in one event be stored?"""

    customer_id: int | None  # None: a visitor Tailor does not know yet
    gpc: bool = False  # the request carried Sec-GPC: 1
    event_says: bool | None = None  # the event's own consent context (Segment's context.consent)
    asked_upstream: bool = False  # the source only sends after its own consent banner said yes


def can_track_many(questions: list[TrackingQuestion]) -> list[bool]:
    """Answer many tracking questions with one query. In order: a GPC signal says no;
    the ledger's latest decision wins; then the event's consent context; then a source
    that asks upstream; then the regime (yes under opt-out, no under opt-in)."""
    ids = {q.customer_id for q in questions if q.customer_id is not None}
    decisions = dict(
        Customer.objects.filter(pk__any_of=list(ids))
        .annotate(decision=_latest_decision_subquery(Purpose.TRACKING))
        .values_list("pk", "decision")
    )
    answers = []
    for question in questions:
        decision = decisions.get(question.customer_id)
        if question.gpc or decision == Decision.WITHDRAWN:
            answers.append(False)
        elif decision == Decision.GRANTED:
            answers.append(True)
        elif question.event_says is not None:
            answers.append(question.event_says)
        else:
            answers.append(question.asked_upstream or settings.CONSENT_REGIME == "opt-out")
    return answers


def can_track(customer: Customer | None, *, gpc: bool = False) -> bool:
    """May this person's behavior be stored? A GPC signal says no for its request."""
    customer_id = customer.pk if customer is not None else None
    return can_track_many([TrackingQuestion(customer_id=customer_id, gpc=gpc)])[0]


def can_personalize(customer: Customer | None) -> bool:
    """May this person's profile and behavior choose what they are shown?"""
    return (
        customer is not None
        and customer.pk is not None
        and consent_state(customer=customer).allows(Purpose.PERSONALIZATION)
    )


def _latest_decision_subquery(purpose: str, topic: Topic | None = None) -> Subquery:
    records = ConsentRecord.objects.filter(customer=OuterRef("pk"), purpose=purpose, topic=topic)
    return Subquery(records.order_by("-recorded_at", "-id").values("decision")[:1])


def _allowed(purpose: str) -> Q:
    decided = Q(**{f"_consent_{purpose}": Decision.GRANTED})
    if purpose != Purpose.EMAIL_MARKETING and settings.CONSENT_REGIME == "opt-out":
        return decided | Q(**{f"_consent_{purpose}__isnull": True})
    return decided


def customers_with_decision(*, customers: QuerySet[Customer], purpose: str, decision: str | None) -> QuerySet[Customer]:
    """The customers whose latest decision for `purpose` is `decision` (None: never asked)."""
    annotated = customers.annotate(_latest_decision=_latest_decision_subquery(purpose))
    if decision is None:
        return annotated.filter(_latest_decision__isnull=True)
    return annotated.filter(_latest_decision=decision)


def customers_consenting(*, customers: QuerySet[Customer], purpose: str) -> QuerySet[Customer]:
    """The customers of `customers` whose consent allows `purpose` (tracking or personalization)."""
    return customers.annotate(**{f"_consent_{purpose}": _latest_decision_subquery(purpose)}).filter(_allowed(purpose))


class EmailRefusal:
    """Why someone may not get marketing email now, in the order they are asked."""

    NO_ADDRESS = "no_address"
    SUPPRESSED = "suppressed"
    NO_CONSENT = "no_consent"
    TOPIC_NOT_CHOSEN = "topic_not_chosen"
    PAUSED = "paused"


def _email_annotated(customers: QuerySet[Customer], topic: str | None) -> QuerySet[Customer]:
    """`customers` with what the marketing email rule reads, so that the rule and its
    reasons (customers_emailable, email_refusals) cannot drift apart."""
    purpose = Purpose.EMAIL_MARKETING
    latest_pause = PreferenceChange.objects.filter(customer=OuterRef("pk")).order_by("-recorded_at", "-id")
    suppressed = Suppression.objects.filter(address_hash=Sha256Hex(Lower(Trim(OuterRef("email")))))
    annotated = customers.annotate(
        **{f"_consent_{purpose}": _latest_decision_subquery(purpose)},
        _paused_until=Subquery(latest_pause.values("paused_until")[:1]),
        _suppressed=Exists(suppressed),
    )
    topic_obj = Topic.objects.filter(slug=topic, is_active=True).first() if topic is not None else None
    if topic_obj is not None:
        annotated = annotated.annotate(_topic=_latest_decision_subquery(purpose, topic_obj))
    return annotated


def customers_emailable(*, customers: QuerySet[Customer], topic: str | None = None) -> QuerySet[Customer]:
    """The customers of `customers` who may get marketing email (of this topic) now: the
    same rule as can_email, in one query."""
    if topic is not None and not Topic.objects.filter(slug=topic, is_active=True).exists():
        return customers.none()
    annotated = _email_annotated(customers.exclude(email=""), topic).filter(_allowed(Purpose.EMAIL_MARKETING))
    if topic is not None:
        annotated = annotated.filter(_topic=Decision.GRANTED)
    # spelt out: NOT (NULL > now) would drop everyone who never paused
    paused = Q(_paused_until__isnull=True) | Q(_paused_until__lte=timezone.now())
    return annotated.filter(paused).filter(_suppressed=False)


def email_refusals(*, customers: QuerySet[Customer], topic: str | None = None) -> dict[int, str]:
    """Why each of `customers` may not get marketing email (of this topic) now, by customer
    id (EmailRefusal); the others may. The rule of customers_emailable, with its reasons."""
    if topic is not None and not Topic.objects.filter(slug=topic, is_active=True).exists():
        return dict.fromkeys(customers.values_list("pk", flat=True), EmailRefusal.TOPIC_NOT_CHOSEN)
    now, purpose = timezone.now(), Purpose.EMAIL_MARKETING
    fields = ["pk", "email", "_suppressed", f"_consent_{purpose}", "_paused_until"]
    fields += ["_topic"] if topic is not None else []
    allowed = {Decision.GRANTED}
    refusals = {}
    for pk, email, suppressed, decision, paused_until, *topic_decision in _email_annotated(
        customers, topic
    ).values_list(*fields):
        if not email:
            refusals[pk] = EmailRefusal.NO_ADDRESS
        elif suppressed:
            refusals[pk] = EmailRefusal.SUPPRESSED
        elif decision not in allowed:
            refusals[pk] = EmailRefusal.NO_CONSENT
        elif topic is not None and topic_decision[0] != Decision.GRANTED:
            refusals[pk] = EmailRefusal.TOPIC_NOT_CHOSEN
        elif paused_until is not None and paused_until > now:
            refusals[pk] = EmailRefusal.PAUSED
    return refusals


def email_frequencies(*, customer_ids) -> dict[int, str]:
    """Each customer's chosen frequency of marketing email (consent.models.Frequency), for
    those who chose one other than "any"."""
    latest = PreferenceChange.objects.filter(customer=OuterRef("pk")).order_by("-recorded_at", "-id")
    chosen = Customer.objects.filter(pk__any_of=list(customer_ids)).annotate(
        _frequency=Subquery(latest.values("frequency")[:1])
    )
    return {pk: f for pk, f in chosen.values_list("pk", "_frequency") if f and f != Frequency.ANY}


# --- the ledger and preferences ---------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "consent" or "preference"
    summary: str
    source: str
    actor: str
    policy_version: str
    wording: str
    proof: dict


def consent_history(*, customer: Customer) -> list[TimelineEntry]:
    """Every consent decision and preference change of a person, newest first."""
    entries = [
        TimelineEntry(
            at=r.recorded_at,
            kind="consent",
            summary=f"{r.get_purpose_display()}{f' / {r.topic}' if r.topic_id else ''}: {r.get_decision_display()}",
            source=r.get_source_display(),
            actor=r.actor,
            policy_version=r.policy_version,
            wording=r.wording,
            proof=r.proof,
        )
        for r in ConsentRecord.objects.filter(customer=customer).select_related("topic")
    ]
    entries += [
        TimelineEntry(
            at=p.recorded_at,
            kind="preference",
            summary=str(p),
            source=p.get_source_display(),
            actor=p.actor,
            policy_version="",
            wording="",
            proof=p.proof,
        )
        for p in PreferenceChange.objects.filter(customer=customer)
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)


def addresses_with_decisions(*, emails: list[str]) -> set[str]:
    """Which of these (normalized) addresses belong to customers with anything in the ledger."""
    records = ConsentRecord.objects.filter(customer__email__in=emails)
    return set(records.values_list("customer__email", flat=True).distinct())


def topics_active() -> QuerySet[Topic]:
    return Topic.objects.filter(is_active=True).order_by("name")


def suppression_for(email: str) -> Suppression | None:
    return Suppression.objects.filter(address_hash=address_hash(email)).first()


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(address_hash=address_hash(email)).exists()


def erased_among(*, user_ids: list[str] = (), anonymous_ids: list[str] = (), emails: list[str] = ()) -> set[str]:
    """Which of these ids belonged to people since erased, in one query."""
    kinds = ErasedIdentifier.Kind
    wanted: dict[tuple[str, str], str] = {}
    for kind, values, digest in (
        (kinds.USER_ID, user_ids, identifier_hash),
        (kinds.ANONYMOUS_ID, anonymous_ids, identifier_hash),
        (kinds.EMAIL, emails, address_hash),
    ):
        wanted.update({(kind, digest(value)): value for value in values if value})
    if not wanted:
        return set()
    found = ErasedIdentifier.objects.filter(value_hash__in={h for _, h in wanted}).values_list("kind", "value_hash")
    return {wanted[key] for key in found if key in wanted}


# --- links that work without a login ----------------------------------------------


def unsubscribe_url(*, customer: Customer, topic: str | None = None) -> str:
    token = token_make(scope="unsubscribe", payload={"c": customer.pk, "t": topic})
    return f"{settings.TAILOR_BASE_URL}/u/{token}"


def preferences_url(*, customer: Customer) -> str:
    token = token_make(scope="preferences", payload={"c": customer.pk})
    return f"{settings.TAILOR_BASE_URL}/preferences/{token}"


def opt_in_confirm_url(*, opt_in: OptInRequest) -> str:
    token = token_make(scope="opt-in", payload={"r": opt_in.pk})
    return f"{settings.TAILOR_BASE_URL}/subscribe/confirm/{token}"


class SubjectGone(Exception):
    """The link was genuine but its person has been erased."""


def link_customer(*, scope: str, token: str) -> tuple[Customer, dict]:
    """The customer a signed link was made for, and its payload."""
    payload = token_read(scope=scope, token=token, max_age=LINK_MAX_AGE)
    customer = Customer.objects.filter(pk=payload.get("c")).first()
    if customer is None:
        raise SubjectGone
    return customer, payload


def link_opt_in(*, token: str) -> OptInRequest:
    payload = token_read(scope="opt-in", token=token, max_age=OPT_IN_MAX_AGE)
    opt_in = OptInRequest.objects.select_related("customer").filter(pk=payload.get("r")).first()
    if opt_in is None:
        raise SubjectGone
    return opt_in


# --- data subject requests --------------------------------------------------------


def data_request_get(*, request_id: int) -> DataSubjectRequest | None:
    return DataSubjectRequest.objects.prefetch_related("log").filter(pk=request_id).first()


def subject_hash_for(customer: Customer) -> str:
    """What identifies a person in records kept after their erasure."""
    return address_hash(customer.email) if customer.email else identifier_hash(f"customer:{customer.pk}")


def subject_export_document(*, customer: Customer) -> dict:
    """Everything Tailor holds about a person, as one JSON-ready document (GDPR Art. 15 and 20)."""
    state = consent_state(customer=customer)
    identifiers = customer_identifiers(customer=customer)
    return {
        "generated_at": timezone.now().isoformat(),
        "profile": customer_export(customer=customer),
        "events": events_export(
            customer_id=customer.pk, user_ids=identifiers.user_ids, anonymous_ids=identifiers.anonymous_ids
        ),
        "consent": {
            "current": {
                "purposes": state.purposes,
                "topics": state.topics,
                "frequency": state.frequency,
                "paused_until": state.paused_until.isoformat() if state.paused_until else None,
                "suppressed": state.suppressed,
            },
            "history": [{**entry.__dict__, "at": entry.at.isoformat()} for entry in consent_history(customer=customer)],
        },
        "subscription_requests": [
            {
                "requested_at": o.created_at.isoformat(),
                "confirmed_at": o.confirmed_at.isoformat() if o.confirmed_at else None,
                "topics": [t.slug for t in o.topics.all()],
                "proof": o.proof,
            }
            for o in customer.opt_in_requests.prefetch_related("topics")
        ],
    }


def email_withdrawals_since(*, customer_ids, since: datetime) -> dict[int, datetime]:
    """When each of these customers first withdrew marketing email (all of it or a topic)
    since `since`: the unsubscribes a campaign's results count (not erasures, not complaints)."""
    withdrawals = ConsentRecord.objects.filter(
        customer_id__any_of=list(customer_ids),
        purpose=Purpose.EMAIL_MARKETING,
        decision=Decision.WITHDRAWN,
        recorded_at__gte=since,
    ).exclude(source__in=[ConsentSource.ERASURE, ConsentSource.ESP_COMPLAINT])  # complaints are counted as such
    first: dict[int, datetime] = {}
    for customer_id, at in withdrawals.order_by("recorded_at").values_list("customer_id", "recorded_at"):
        first.setdefault(customer_id, at)
    return first
