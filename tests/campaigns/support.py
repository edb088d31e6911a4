"""Campaigns as the tests send them: subscribers with their consent on the ledger, an
audience, a campaign with its variants, sent the way the API sends it (campaign_send,
whose senders are queued on commit and run here since tasks are eager), and what a test
reads back of the ledger and of django.core.mail.outbox (Anymail's test backend)."""

import email
import email.policy
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime
from email.utils import parseaddr
from unittest import mock

import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailRequestsAPIError
from anymail.message import AnymailRecipientStatus
from django.core import mail
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from campaigns import services
from campaigns.experiments.assignment import assignment_for
from campaigns.models import AudienceGroup, Campaign, Message, TemplateVersion
from consent.models import ConsentRecord, ConsentSource, Decision, Purpose, Topic
from personalization.models import Customer, Segment, SegmentMembership
from tests.factories import CampaignFactory, CustomerFactory, SegmentFactory, VariantFactory
from tests.templates.support import version_of

SHOP_LINK = "https://shop.example.com/sale?colour=red&size=42"
CONTENT = (
    "<p>Hello {{ customer.first_name }}</p>"
    '<p><a href="https://shop.example.com/sale?colour=red&amp;size=42">Shop the sale</a></p>'
    '<p><a href="{{ links.view_in_browser }}">View it in your browser</a></p>'
)


def campaign_version(content: str = CONTENT, **fields) -> TemplateVersion:
    """A marketing template with a link to the shop and a view-in-browser link, saved."""
    return version_of(content, **fields)


# --- people -------------------------------------------------------------------------


def subscribers(count: int, *, topic: str | None = None, tracking: bool = False, **fields) -> list[Customer]:
    """Customers who said yes to marketing email (and to `topic`, and to tracking), in bulk."""
    customers = Customer.objects.bulk_create(CustomerFactory.build_batch(count, **fields))
    topic_obj = Topic.objects.get(slug=topic) if topic else None
    wanted = [(Purpose.EMAIL_MARKETING, None)]
    wanted += [(Purpose.EMAIL_MARKETING, topic_obj)] if topic_obj else []
    wanted += [(Purpose.TRACKING, None)] if tracking else []
    ConsentRecord.objects.bulk_create(
        ConsentRecord(customer=customer, purpose=purpose, topic=topic_of, decision=Decision.GRANTED,
                      source=ConsentSource.API, actor="tests", wording="Yes, email me.")
        for customer in customers
        for purpose, topic_of in wanted
    )  # fmt: skip
    return customers


def subscriber(**fields) -> Customer:
    return subscribers(1, **fields)[0]


def audience(customers: Iterable[Customer]) -> Segment:
    """A segment whose current members are these customers."""
    segment = SegmentFactory()
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, customer=customer, entered_at=timezone.now()) for customer in customers
    )
    return segment


# --- campaigns ---------------------------------------------------------------------


def campaign_to(
    customers: Iterable[Customer],
    *,
    variants: dict[str, int] | None = None,
    version: TemplateVersion | None = None,
    **fields,
) -> Campaign:
    """A draft campaign to these customers; `variants` {name: weight}, the first is control."""
    campaign = CampaignFactory(segments=[audience(customers)], **fields)
    version = version or campaign_version()
    for position, (name, weight) in enumerate((variants or {"A": 1}).items()):
        VariantFactory(campaign=campaign, name=name, weight=weight, template_version=version, is_control=not position)
    return campaign


def cast(campaign: Campaign, wanted: dict[str, int], **fields) -> dict[str, list[Customer]]:
    """New subscribers joining the campaign's audience until each arm ({variant name or
    "holdout": people}) has as many as wanted. Assignment is a hash of the campaign and the
    customer, so it is known before planning; those an arm does not need stay out."""
    variants = list(campaign.variants.all())
    names = {v.pk: v.name for v in variants}
    segment = campaign.segments.get()
    chosen: dict[str, list[Customer]] = {name: [] for name in wanted}
    while any(len(chosen[name]) < count for name, count in wanted.items()):
        customer = subscriber(**fields)
        assignment = assignment_for(
            campaign_id=campaign.pk, customer_id=customer.pk, variants=[(v.pk, v.weight) for v in variants],
            holdout_percent=campaign.holdout_percent, test_percent=None,
        )  # fmt: skip
        name = "holdout" if assignment.group == AudienceGroup.HOLDOUT else names[assignment.variant_id]
        if len(chosen.get(name, [])) < wanted.get(name, 0):
            chosen[name].append(customer)
            SegmentMembership.objects.create(segment=segment, customer=customer, entered_at=timezone.now())
    return chosen


def send(campaign: Campaign) -> Campaign:
    """campaign_send, with the senders it queues on commit run here (what the
    django_capture_on_commit_callbacks fixture does)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def plan(campaign: Campaign) -> Callable[[], None]:
    """campaign_send, then its start (the planning a worker does), with the senders held
    back: the audience is planned into the ledger and nothing is sent. Calling what it
    returns runs the senders it queued."""
    with TestCase.captureOnCommitCallbacks():  # the start task, run by hand below
        services.campaign_send(campaign=campaign)
    with TestCase.captureOnCommitCallbacks() as queued:
        services.campaign_start(campaign=campaign, now=timezone.now())

    def senders_run() -> None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            for callback in queued:
                callback()

    return senders_run


@contextmanager
def on_commit_run():
    """Run what the block queues on commit, at its end."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


@contextmanager
def rolled_back():
    """A block whose writes are undone at its end (one example of a property-based test)."""
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


@contextmanager
def at(moment: datetime):
    """Tailor's clock (django.utils.timezone.now) stopped at `moment`."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


# --- what came out -------------------------------------------------------------------


def rows(campaign: Campaign) -> dict[int, Message]:
    """The campaign's ledger rows by customer id."""
    return {row.customer_id: row for row in Message.objects.filter(campaign=campaign)}


def statuses(campaign: Campaign) -> dict[int, str]:
    return {customer_id: row.status for customer_id, row in rows(campaign).items()}


def address(recipient: str) -> str:
    return parseaddr(recipient)[1]


def outbox_counts() -> Counter:
    """How many messages each address got."""
    return Counter(address(to) for message in mail.outbox for to in message.to)


def outbox_for(customer: Customer) -> list:
    return [message for message in mail.outbox if customer.email in {address(to) for to in message.to}]


def mime(message) -> email.message.EmailMessage:
    """The message as it goes on the wire, parsed back."""
    return email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)


def variant_of(message) -> str:
    """The variant a sent message carries in its Anymail tags (variant-NAME)."""
    [tag] = [t for t in message.anymail_test_params["tags"] if t.startswith("variant-")]
    return tag.removeprefix("variant-")


# --- ESPs that say no --------------------------------------------------------------------


class RefusingBackend(AnymailTestBackend):
    """An ESP that refuses the addresses in `refused` for good (each recipient rejected,
    so Anymail raises AnymailRecipientsRefused) and takes the others."""

    refused: frozenset[str] = frozenset()

    def post_to_esp(self, payload, message):
        if set(payload.recipient_emails) & self.refused:
            return {"recipient_status": {to: AnymailRecipientStatus(message_id=None, status="rejected")
                                         for to in payload.recipient_emails}}  # fmt: skip
        return super().post_to_esp(payload, message)


def esp_response(status: int, reason: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response.reason = status, reason
    response._content = b'{"error": "try again later"}'
    return response


class UnavailableBackend(AnymailTestBackend):
    """An ESP that takes `accepts` messages, then answers 503 Service Unavailable."""

    accepts = 0

    def post_to_esp(self, payload, message):
        if len(mail.outbox) >= self.accepts:
            raise AnymailRequestsAPIError("Service unavailable", email_message=message, payload=payload,
                                          response=esp_response(503, "Service Unavailable"), backend=self)  # fmt: skip
        return super().post_to_esp(payload, message)


class TimingOutBackend(AnymailTestBackend):
    """An ESP that takes `accepts` messages, then lets the next request time out: whether
    that message went out cannot be known."""

    accepts = 0

    def post_to_esp(self, payload, message):
        if len(mail.outbox) >= self.accepts:
            raise AnymailRequestsAPIError(
                "The ESP did not answer", email_message=message, payload=payload, backend=self
            ) from requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
        return super().post_to_esp(payload, message)


class PausingBackend(AnymailTestBackend):
    """An ESP that takes every message; after its first, staff pause the campaign."""

    def post_to_esp(self, payload, message):
        response = super().post_to_esp(payload, message)
        if len(mail.outbox) == 1:
            services.campaign_pause(campaign=Campaign.objects.get(pk=message.metadata["campaign"]))
        return response


class LedgerWatchingBackend(AnymailTestBackend):
    """An ESP that notes each message's ledger row as the message reaches it."""

    seen: list[Message] = []

    def post_to_esp(self, payload, message):
        self.seen.append(Message.objects.get(pk=int(message.metadata["message"])))
        return super().post_to_esp(payload, message)
