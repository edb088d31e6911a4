"""Each message is registered in the ledger (what it sends: subject, links, whether it was
personalized) and claimed before its ESP call, so that a click can only redirect to a
link the ledger holds and a crash knows what was attempted; then it is settled sent. A
row whose render fails is failed with the reason, and the batch goes on."""

from collections import Counter

import pytest

from campaigns.models import CampaignState, MessageStatus
from tests.campaigns.support import (
    LedgerWatchingBackend,
    campaign_to,
    campaign_version,
    outbox_counts,
    rows,
    send,
    subscribers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched(settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.campaigns.support.LedgerWatchingBackend"
    monkeypatch.setattr(LedgerWatchingBackend, "seen", [])
    return LedgerWatchingBackend.seen


def test_each_message_is_claimed_and_registered_before_its_esp_call(settings, watched):
    settings.CAMPAIGN_BATCH_SIZE = 4
    campaign = send(campaign_to(subscribers(10, tracking=True)))

    assert campaign.state == CampaignState.SENT
    assert len(watched) == 10
    for row in watched:
        assert row.status == MessageStatus.CLAIMED
        assert row.subject and row.personalized is not None and row.template_version_id
        assert row.links == ["https://shop.example.com/sale?colour=red&size=42"]


def test_every_message_is_settled_sent_with_the_link_it_registered(watched):
    campaign = send(campaign_to(subscribers(5, tracking=True)))

    sent = rows(campaign)
    assert {row.status for row in sent.values()} == {MessageStatus.SENT}
    assert {row.pk: row.links for row in watched} == {row.pk: row.links for row in sent.values()}
    assert all(row.esp_message_id and row.sent_at for row in sent.values())


def test_a_message_whose_render_fails_is_failed_with_the_reason_and_the_others_are_sent(watched):
    people = subscribers(4)
    runaway = people[2]
    runaway.attributes = {"n": 100_000}
    runaway.save()
    version = campaign_version("<p>Hi</p>{% for i in (1..customer.attributes.n) %}{% endfor %}")

    campaign = send(campaign_to(people, version=version))

    ledger = rows(campaign)
    assert ledger[runaway.pk].status == MessageStatus.FAILED
    assert ledger[runaway.pk].failure == "render failed: The html part went past a limit: loop iteration limit reached."
    assert Counter(row.status for row in ledger.values()) == {MessageStatus.SENT: 3, MessageStatus.FAILED: 1}
    assert sum(outbox_counts().values()) == 3
    assert campaign.state == CampaignState.SENT
