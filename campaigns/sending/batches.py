"""A batch of a campaign, sent: claim due rows, check them again against consent, render
them per variant in bulk, register their links, then hand them to the ESP one by one in
claim order, marking each in the ledger before the next (ledger.py says why).

ESP errors are sorted into three kinds. Permanent (the address or the message was
refused): the row fails with the reason and the batch goes on. Transient (throttled,
the ESP down, a refused connection: nothing was accepted): the rest of the batch goes
back to the plan and the task retries with backoff. In doubt (a timeout or a dropped
connection after the message went out): the row is IN_DOUBT, never sent again, and the
rest goes back to the plan.
"""

import logging
import smtplib
import socket
import time
from collections import defaultdict
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import get_connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignState, Message
from campaigns.sending.audience import frequency_over
from campaigns.sending.ledger import (
    batch_claim,
    claim_release,
    message_mark_failed,
    message_mark_in_doubt,
    message_mark_sent,
    messages_register,
    messages_skip,
)
from campaigns.sending.mail import Outgoing, campaign_utm, outgoing_build, view_in_browser_url
from campaigns.templating.selectors import RenderGroup, templates_render_groups
from consent.models import Purpose
from consent.selectors import customers_consenting, customers_emailable, unsubscribe_url
from core.ratelimit import rate_limit_exceeded
from personalization.models import Customer

logger = logging.getLogger(__name__)

PERMANENT, TRANSIENT, IN_DOUBT = "permanent", "transient", "in_doubt"
STATE_CHECK_EVERY = 50  # messages between two looks at a pause or cancel


class TransientSendError(Exception):
    """The ESP could not take mail for now; the task retries later."""


def send_error_kind(error: Exception) -> str:
    """Which of the three kinds an ESP error is (see the module's docstring)."""
    if isinstance(error, AnymailRecipientsRefused | smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
        return PERMANENT
    if isinstance(error, AnymailAPIError):
        status = getattr(error, "status_code", None)
        cause = repr(error.__cause__ or "")
        if "Timeout" in cause and "ConnectTimeout" not in cause:
            return IN_DOUBT
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return PERMANENT
        return TRANSIENT
    if isinstance(error, smtplib.SMTPResponseException):
        return PERMANENT if error.smtp_code >= 500 else TRANSIENT
    if isinstance(error, ConnectionRefusedError | smtplib.SMTPConnectError):
        return TRANSIENT
    if isinstance(error, smtplib.SMTPServerDisconnected | socket.timeout | ConnectionError):
        return IN_DOUBT
    return PERMANENT


@dataclass
class BatchOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    in_doubt: int = 0
    released: int = 0
    stopped: bool = False  # paused or cancelled meanwhile


def _rows(ids: list[int]) -> list[Message]:
    # A batch has a variant or two: their template versions (the whole HTML) read once, not per row.
    rows = Message.objects.select_related("customer", "variant").prefetch_related("variant__template_version")
    found = rows.in_bulk(ids)
    return [found[i] for i in ids]


def _allowed_now(campaign: Campaign, rows: list[Message]) -> tuple[set[int], set[int]]:
    """(may be emailed now, may be tracked): consent asked again, as it may have changed since planning."""
    ids = [row.customer_id for row in rows]
    topic = campaign.topic.slug if campaign.topic_id else None
    customers = Customer.objects.filter(pk__any_of=ids)
    emailable = set(customers_emailable(customers=customers, topic=topic).values_list("pk", flat=True))
    trackable = set(customers_consenting(customers=customers, purpose=Purpose.TRACKING).values_list("pk", flat=True))
    return emailable, trackable


def _prepared(campaign: Campaign, rows: list[Message], trackable: set[int]) -> tuple[list[Outgoing], list[Message]]:
    """Render the rows per variant and build their email; rows whose render failed are returned apart."""
    topic = campaign.topic.slug if campaign.topic_id else None
    context = {"id": campaign.pk, "name": campaign.name, "utm_campaign": campaign_utm(campaign)}
    by_variant: dict[int, list[Message]] = defaultdict(list)
    for row in rows:
        by_variant[row.variant_id].append(row)
    built: dict[int, Outgoing] = {}
    failed: list[Message] = []
    unsubscribes = {row.customer_id: unsubscribe_url(customer=row.customer, topic=topic) for row in rows}
    links = {
        row.customer_id: {"unsubscribe": unsubscribes[row.customer_id],
                          "view_in_browser": view_in_browser_url(message_id=row.pk)}
        for row in rows
    }  # fmt: skip
    groups = [
        RenderGroup(version=group[0].variant.template_version, customers=[row.customer for row in group],
                    subject=group[0].variant.subject, campaign={**context, "variant": group[0].variant.name})
        for group in by_variant.values()
    ]  # fmt: skip
    # One read of the recipients' data for the whole batch, whatever their variants.
    for group, rendered in zip(by_variant.values(), templates_render_groups(groups=groups, links=links), strict=True):
        for row, email in zip(group, rendered, strict=True):
            row.personalized = email.personalized
            row.template_version_id = row.variant.template_version_id
            if email.error:
                row.failure = email.error
                failed.append(row)
                continue
            row.subject = email.subject[:500]
            built[row.pk] = outgoing_build(message=row, campaign=campaign, rendered=email,
                                           unsubscribe=unsubscribes[row.customer_id],
                                           tracking=row.customer_id in trackable)  # fmt: skip
            row.links = built[row.pk].links
    return [built[row.pk] for row in rows if row.pk in built], failed


def _messages_prepare(rows: list[Message]) -> None:
    """Register what each row will send (subject, links, consent's say on personalization)
    before the first ESP call: a click can only redirect to a link registered here."""
    messages_register(rows=rows)


def _throttle() -> None:
    """Wait for the ESP's rate (CAMPAIGN_SEND_RATE a second, all workers together)."""
    rate = settings.CAMPAIGN_SEND_RATE
    while rate and rate_limit_exceeded(key="campaign-send", limit=rate, window_seconds=1)[0]:
        time.sleep(0.05)


def _still_sending(campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id, state=CampaignState.SENDING).exists()


def batch_send(*, campaign: Campaign, size: int | None = None) -> BatchOutcome:
    """Claim and send one batch of the campaign's due rows."""
    now = timezone.now()
    claim, ids = batch_claim(campaign_id=campaign.pk, size=size or settings.CAMPAIGN_BATCH_SIZE, now=now)
    outcome = BatchOutcome(claimed=len(ids))
    if not ids:
        return outcome
    try:
        rows = _rows(ids)
        emailable, trackable = _allowed_now(campaign, rows)
        # Another campaign may have reached them since this one was planned: their own
        # frequency and the shop's cap are asked again too.
        over = frequency_over(customer_ids=[row.customer_id for row in rows], now=now)
        refused = [row.pk for row in rows if row.customer_id not in emailable]
        crowded = [row.pk for row in rows if row.customer_id in emailable and row.customer_id in over]
        messages_skip(message_ids=refused, reason="consent, suppression or a pause since planning")
        messages_skip(message_ids=crowded, reason="over their frequency or the cap since planning")
        outcome.skipped = len(refused) + len(crowded)
        rows = [row for row in rows if row.customer_id in emailable and row.customer_id not in over]
        outgoing, failed = _prepared(campaign, rows, trackable)
        _messages_prepare(rows)
        for row in failed:
            message_mark_failed(message_id=row.pk, reason=f"render failed: {row.failure}")
        outcome.failed = len(failed)
        _hand_over(campaign, claim, outgoing, outcome)
    finally:
        outcome.released += claim_release(claim=claim)  # rows not attempted go back to the plan
    return outcome


def _hand_over(campaign: Campaign, claim: str, outgoing: list[Outgoing], outcome: BatchOutcome) -> None:
    connection = get_connection()
    with connection:
        for position, item in enumerate(outgoing):
            if position and position % STATE_CHECK_EVERY == 0 and not _still_sending(campaign.pk):
                outcome.stopped = True
                return
            _throttle()
            try:
                connection.send_messages([item.email])
            except Exception as error:  # sorted below; nothing else in the loop raises
                kind = send_error_kind(error)
                logger.warning("campaign %s, message %s: %s error: %r", campaign.pk, item.message_id, kind, error)
                if kind == PERMANENT:
                    message_mark_failed(message_id=item.message_id, reason=f"refused: {error}")
                    outcome.failed += 1
                    continue
                if kind == IN_DOUBT:
                    message_mark_in_doubt(message_id=item.message_id, reason=f"no answer from the ESP: {error}")
                    outcome.in_doubt += 1
                raise TransientSendError(str(error)) from error
            status = getattr(item.email, "anymail_status", None)
            esp_id = status.message_id if status and isinstance(status.message_id, str) else item.esp_message_id
            message_mark_sent(message_id=item.message_id, esp_message_id=esp_id, now=timezone.now())
            outcome.sent += 1
