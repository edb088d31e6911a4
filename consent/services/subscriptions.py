"""Double opt-in, unsubscribe and the preference center."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns.services import transactional_email_send
from consent.models import (
    SUPPRESSIONS_LIFTED_BY_OPT_IN,
    ConsentSource,
    Decision,
    OptInRequest,
    Purpose,
    SuppressionReason,
    Topic,
)
from consent.selectors import consent_state, opt_in_confirm_url, suppression_for
from consent.services.ledger import (
    consent_grant,
    consent_withdraw,
    email_marketing_stop,
    preferences_change,
    suppression_lift,
    topic_get,
)
from personalization.models import Customer
from personalization.services import customer_for_email

# A person gets at most one confirmation email every 10 minutes and three a day,
# however often a form is submitted with their address.
OPT_IN_RESEND_AFTER = timedelta(minutes=10)
OPT_INS_PER_DAY = 3
# Addresses that must not even get a confirmation: the person or their server said no.
NO_CONFIRMATION_FOR = (SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT, SuppressionReason.MANUAL)


def subscribe_wording(topics: list[Topic]) -> str:
    """The sentence Tailor's own subscribe form shows, recorded as the wording of the consent."""
    names = ", ".join(t.name for t in topics) or "news"
    return (
        f"Yes, send me {names} from {settings.SHOP_NAME} by email. I can unsubscribe at any time "
        f"(privacy policy version {settings.CONSENT_POLICY_VERSION})."
    )


def subscription_request(
    *,
    email: str,
    topics: list[str],
    proof: dict,
    policy_version: str,
    wording: str,
    first_name: str = "",
    last_name: str = "",
) -> OptInRequest | None:
    """Start a double opt-in. Nothing is granted until the person confirms; None when
    no confirmation is sent (already subscribed, asked too often, or suppressed)."""
    topic_objs = [topic_get(slug) for slug in topics] or list(Topic.objects.filter(is_active=True))
    customer, _ = customer_for_email(email=email, first_name=first_name, last_name=last_name)
    state = consent_state(customer=customer)
    if state.allows_email() and all(state.topics.get(t.slug) == Decision.GRANTED for t in topic_objs):
        return None
    suppression = suppression_for(customer.email)
    if suppression is not None and suppression.reason in NO_CONFIRMATION_FOR:
        return None
    now = timezone.now()
    recent = OptInRequest.objects.filter(customer=customer, created_at__gte=now - timedelta(days=1))
    if recent.filter(created_at__gte=now - OPT_IN_RESEND_AFTER).exists() or recent.count() >= OPT_INS_PER_DAY:
        return None
    opt_in = OptInRequest.objects.create(customer=customer, policy_version=policy_version, wording=wording, proof=proof)
    opt_in.topics.set(topic_objs)
    from consent.tasks import subscription_confirmation_send_task  # tasks import this module

    transaction.on_commit(lambda: subscription_confirmation_send_task.delay(opt_in.pk))
    return opt_in


def subscription_confirmation_send(*, opt_in_id: int) -> bool:
    """Email the confirmation link, once; True if it was sent now."""
    with transaction.atomic():
        opt_in = OptInRequest.objects.select_for_update().select_related("customer").filter(pk=opt_in_id).first()
        if opt_in is None or opt_in.confirmation_sent_at or opt_in.confirmed_at:
            return False
        context = {
            "shop_name": settings.SHOP_NAME,
            "shop_address": settings.SHOP_POSTAL_ADDRESS,
            "confirm_url": opt_in_confirm_url(opt_in=opt_in),
            "topics": list(opt_in.topics.all()),
            "first_name": opt_in.customer.first_name,
        }
        transactional_email_send(
            to=opt_in.customer.email,
            subject=f"Please confirm your subscription to {settings.SHOP_NAME}",
            text=render_to_string("consent/email/opt_in_confirm.txt", context),
            html=render_to_string("consent/email/opt_in_confirm.html", context),
            tags=["double-opt-in"],
            metadata={"opt_in_request": opt_in.pk},
        )
        opt_in.confirmation_sent_at = timezone.now()
        opt_in.save(update_fields=["confirmation_sent_at", "updated_at"])
        return True


def subscription_confirm(*, opt_in: OptInRequest, proof: dict) -> bool:
    """Turn a confirmed opt-in into consent; False when it was confirmed before (a replayed link)."""
    with transaction.atomic():
        opt_in = OptInRequest.objects.select_for_update().select_related("customer").get(pk=opt_in.pk)
        if opt_in.confirmed_at:
            return False
        customer = opt_in.customer
        evidence = {"request": opt_in.proof, "confirmation": proof}
        common = {
            "customer": customer,
            "purpose": Purpose.EMAIL_MARKETING,
            "source": ConsentSource.DOUBLE_OPT_IN,
            "actor": "person",
            "policy_version": opt_in.policy_version,
            "wording": opt_in.wording,
            "proof": evidence,
        }
        consent_grant(**common)
        for topic in opt_in.topics.filter(is_active=True):
            consent_grant(**common, topic=topic.slug)
        suppression_lift(email=customer.email, reasons=SUPPRESSIONS_LIFTED_BY_OPT_IN)
        opt_in.confirmed_at = timezone.now()
        opt_in.save(update_fields=["confirmed_at", "updated_at"])
        return True


def unsubscribe(*, customer: Customer, topic: str | None, source: str, actor: str, proof: dict) -> bool:
    """Withdraw one topic, or all marketing email when no (current) topic is named; False when
    there was nothing left to withdraw."""
    state = consent_state(customer=customer)
    if topic in state.topics:
        if state.topics[topic] == Decision.WITHDRAWN:
            return False
        consent_withdraw(
            customer=customer, purpose=Purpose.EMAIL_MARKETING, topic=topic, source=source, actor=actor, proof=proof
        )
        return True
    if state.purposes[Purpose.EMAIL_MARKETING] == Decision.WITHDRAWN and state.suppressed:
        return False
    email_marketing_stop(
        customer=customer, source=source, actor=actor, proof=proof, reason=SuppressionReason.UNSUBSCRIBE
    )
    return True


@dataclass(frozen=True)
class PreferenceChoices:
    """What a person set in the preference center."""

    purposes: dict[str, bool]
    topics: dict[str, bool]
    frequency: str
    pause_days: int | None  # None: leave as it is; 0: not paused (resume); n: pause n days


def preference_center_save(
    *, customer: Customer, choices: PreferenceChoices, wordings: dict[str, str], proof: dict
) -> int:
    """Write one ledger record per switch the person changed, and the new frequency or
    pause; return how many records were written. Reaching this page through a link sent
    to the address proves the address is theirs, as a double opt-in does."""
    state = consent_state(customer=customer)
    common = {"customer": customer, "source": ConsentSource.PREFERENCE_CENTER, "actor": "person", "proof": proof}
    policy = settings.CONSENT_POLICY_VERSION
    written = 0
    with transaction.atomic():
        for purpose, wanted in choices.purposes.items():
            if wanted != state.allows(purpose):
                record = consent_grant if wanted else consent_withdraw
                record(**common, purpose=purpose, policy_version=policy, wording=wordings[purpose])
                written += 1
        for slug, wanted in choices.topics.items():
            if wanted != (state.topics.get(slug) == Decision.GRANTED):
                record = consent_grant if wanted else consent_withdraw
                record(
                    **common, purpose=Purpose.EMAIL_MARKETING, topic=slug, policy_version=policy, wording=wordings[slug]
                )
                written += 1
        if choices.purposes.get(Purpose.EMAIL_MARKETING) and not state.allows(Purpose.EMAIL_MARKETING):
            suppression_lift(email=customer.email, reasons=SUPPRESSIONS_LIFTED_BY_OPT_IN)
        change = preferences_change(
            **common,
            frequency=choices.frequency,
            pause_days=choices.pause_days or None,
            resume=choices.pause_days == 0,
        )
        return written + (change is not None)
