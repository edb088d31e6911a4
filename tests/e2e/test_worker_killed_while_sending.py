"""A worker killed in the middle of sending a campaign: nobody gets the campaign twice,
nobody is forgotten, and the one message whose fate cannot be known is shown as in doubt.

A real Celery worker sends through Django's SMTP backend to an SMTP server run here (the
sink), which keeps what it received and answers each message a little late, as an ESP
does, so that the worker is always in the middle of a batch. The worker is killed with
SIGKILL, the dead claims are recovered, and a second worker finishes the campaign."""

import asyncio
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from campaigns.models import Campaign, CampaignState, Message, MessageStatus
from campaigns.sending.ledger import claims_recover
from campaigns.services import campaign_send
from config.celery import app as celery_app
from tests.campaigns.support import campaign_to, subscribers
from tests.e2e.conftest import free_port

pytestmark = [
    pytest.mark.e2e,
    # The test process runs tasks eagerly; these go to the broker on purpose.
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

RECIPIENTS, BATCH = 300, 50
KILL_AFTER = 80  # messages received: well into the second batch
ANSWER_DELAY = 0.01  # seconds the sink takes to accept each message


class Sink:
    """An SMTP server that keeps the recipient and Message-ID of every message it accepts."""

    def __init__(self):
        self._lock = threading.Lock()
        self._received: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        headers = BytesParser(policy=default_policy).parsebytes(envelope.content, headersonly=True)
        with self._lock:
            self._received.extend((to.lower(), str(headers["Message-ID"])) for to in envelope.rcpt_tos)
        await asyncio.sleep(ANSWER_DELAY)
        return "250 2.0.0 Ok: queued"

    @property
    def received(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._received)


@pytest.fixture
def sink():
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="sink.test")
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def to_the_broker():
    """Tasks this process queues go to the broker for the workers, not run here."""
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    celery_app.control.purge()  # nothing left over from an earlier run on this broker
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def worker_sending_to(monkeypatch, worker_factory, sink):
    """Start a worker whose email goes to the sink over SMTP, in batches of BATCH."""
    _, port = sink
    for name, value in {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port), "CAMPAIGN_BATCH_SIZE": str(BATCH), "QUIET_HOURS": "0-0",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return worker_factory


def wait_until(condition, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def claims_all_recovered(campaign: Campaign) -> bool:
    """Recover dead claims; true once none is left (Postgres drops a dead session's locks
    a moment after its process is gone)."""
    claims_recover(campaign_id=campaign.pk)
    return not Message.objects.filter(campaign=campaign, status=MessageStatus.CLAIMED).exists()


def test_a_worker_killed_mid_batch_sends_nobody_twice_and_leaves_at_most_one_in_doubt(
    settings, sink, to_the_broker, worker_sending_to
):
    settings.QUIET_HOURS, settings.CAMPAIGN_SEND_CONCURRENCY = (0, 0), 1
    handler, _ = sink
    campaign = campaign_to(subscribers(RECIPIENTS))
    first = worker_sending_to()

    campaign_send(campaign=campaign)  # plans, and queues its sender on commit
    assert wait_until(lambda: len(handler.received) >= KILL_AFTER, timeout=60), "the worker never got going"
    first.kill()
    at_kill = len(handler.received)
    assert at_kill < RECIPIENTS, "the kill must land while there is more to send"

    assert wait_until(lambda: claims_all_recovered(campaign), timeout=20, step=0.2)
    in_doubt = list(Message.objects.filter(campaign=campaign, status=MessageStatus.IN_DOUBT).select_related("customer"))
    before_the_second_worker = Counter(address for address, _ in handler.received)
    worker_sending_to()
    celery_app.send_task("campaigns.tasks.campaign_send_task", args=[campaign.pk])
    assert wait_until(lambda: Campaign.objects.get(pk=campaign.pk).state == CampaignState.SENT, timeout=60, step=0.1)

    received = handler.received
    per_address = Counter(address for address, _ in received)
    assert max(per_address.values()) == 1, "nobody got the campaign twice"
    ledger = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert set(ledger) <= {MessageStatus.SENT, MessageStatus.IN_DOUBT}
    assert ledger[MessageStatus.IN_DOUBT] <= 1 and ledger[MessageStatus.IN_DOUBT] == len(in_doubt)
    assert ledger[MessageStatus.SENT] + ledger[MessageStatus.IN_DOUBT] == RECIPIENTS
    # What the ledger says was sent is exactly what the sink got for them, Message-ID and all.
    sent = set(
        Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).values_list(
            "customer__email", "esp_message_id"
        )
    )
    assert {(address, message_id) for address, message_id in received if address in {a for a, _ in sent}} == sent
    # The one in doubt may or may not have reached the sink before the kill; never after it.
    for row in in_doubt:
        assert per_address[row.customer.email] in (0, 1)
        assert per_address[row.customer.email] == before_the_second_worker[row.customer.email]
    assert len(received) == len(sent) + sum(per_address[row.customer.email] for row in in_doubt)
