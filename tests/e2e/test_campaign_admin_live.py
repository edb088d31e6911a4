"""A marketer sends a campaign from the admin, in a real browser, and watches it go out:
two variants of a template (v1 as control, v2 with its own subject) and a 10% holdout
for a segment of 48 people who said yes to marketing email and 2 who did not; "Save and
send" plans the audience in the web process, a real Celery worker sends it at a paced
rate, and the progress box on the campaign's page follows the ledger live over its
WebSocket until it says "Sent", without a reload. Then people open, click and order, and
the results page shows each variant and the holdout."""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db.models import Count
from playwright.sync_api import Page, expect

from campaigns.models import Campaign, CampaignState, EmailTemplate, Message, MessageStatus
from campaigns.templating.services import template_save
from consent.models import Purpose
from consent.services import consent_grant
from tests.factories import CustomerFactory, EventFactory, SegmentFactory, SegmentMembershipFactory
from tracking.models import EventType

pytestmark = pytest.mark.e2e
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONSENTED, NOT_CONSENTED = 48, 2
HTML = """<html><body><p>Hi {{ customer.first_name | default: "there" }},</p><p>{{ copy }}</p>
<p><a href="https://shop.example.com/spring">See the spring picks</a></p>
<p><a href="{{ links.unsubscribe }}">Unsubscribe</a> · {{ shop.name }}, {{ shop.address }}</p></body></html>"""


@pytest.fixture(autouse=True)
def _paced_sending(monkeypatch):
    """What the server and worker processes read from their environment (see conftest's
    process_env): no quiet hours, whatever the hour; small batches at 8 messages a second,
    so that the progress is there to watch; Anymail's test backend as the ESP."""
    monkeypatch.setenv("QUIET_HOURS", "0-0")
    monkeypatch.setenv("CAMPAIGN_BATCH_SIZE", "4")
    monkeypatch.setenv("CAMPAIGN_SEND_RATE", "8")
    monkeypatch.setenv("CAMPAIGN_SEND_CONCURRENCY", "1")
    monkeypatch.setenv("EMAIL_BACKEND", "anymail.backends.test.EmailBackend")


@pytest.fixture
def shop(transactional_db):
    """A segment of 50: 48 said yes to marketing email, 2 did not; a template in two versions."""
    people = [CustomerFactory(email=f"person{n}@example.com") for n in range(CONSENTED + NOT_CONSENTED)]
    for customer in people[:CONSENTED]:
        consent_grant(customer=customer, purpose=Purpose.EMAIL_MARKETING, source="admin", actor="test")
    segment = SegmentFactory(name="Spring audience", member_count=len(people))
    for customer in people:
        SegmentMembershipFactory(segment=segment, customer=customer)
    template = EmailTemplate(
        name="Spring picks", subject="Our spring picks", html=HTML.replace("{{ copy }}", "New in.")
    )
    template_save(template=template, actor="marketer")
    template.html = HTML.replace("{{ copy }}", "Fresh picks, picked for you.")
    template_save(template=template, actor="marketer")
    User.objects.create_superuser("marketer", "m@example.com", "a-long-password-1")
    return people


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("marketer")


def engagement(campaign: Campaign) -> None:
    """People open, click and order: more of B's than of A's; one of the holdout orders."""
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).select_related("variant")
    by_variant: dict[str, list[Message]] = {}
    for message in sent.order_by("pk"):
        by_variant.setdefault(message.variant.name, []).append(message)
    shares = {"A": (0.5, 0.2, 0.1), "B": (0.7, 0.4, 0.2)}  # opened, clicked, ordered
    for name, messages in by_variant.items():
        opened, clicked, ordered = (round(share * len(messages)) for share in shares[name])
        for position, message in enumerate(messages):
            at = message.sent_at
            EventFactory(customer=message.customer, type=EventType.EMAIL_DELIVERED, email_message=message,
                         occurred_at=at + timedelta(seconds=5))  # fmt: skip
            if position < opened:
                EventFactory(customer=message.customer, type=EventType.EMAIL_OPENED, email_message=message,
                             occurred_at=at + timedelta(minutes=10))  # fmt: skip
            elif position == opened:  # Apple Mail's proxy fetched it: not a person's open
                EventFactory(customer=message.customer, type=EventType.EMAIL_OPENED, email_message=message,
                             occurred_at=at + timedelta(minutes=1), properties={"privacy_proxy": True})  # fmt: skip
            if position < clicked:
                EventFactory(customer=message.customer, type=EventType.EMAIL_LINK_CLICKED, email_message=message,
                             occurred_at=at + timedelta(minutes=12))  # fmt: skip
            if position < ordered:
                EventFactory(customer=message.customer, type=EventType.ORDER_COMPLETED,
                             occurred_at=at + timedelta(minutes=30), properties={"revenue": "64.90"})  # fmt: skip
    held = Message.objects.filter(campaign=campaign, status=MessageStatus.HELD_OUT).order_by("pk").first()
    if held is not None:
        EventFactory(customer=held.customer, type=EventType.ORDER_COMPLETED,
                     occurred_at=campaign.started_at + timedelta(hours=2), properties={"revenue": "39.90"})  # fmt: skip


def test_a_marketer_sends_a_campaign_and_watches_it_go_out_live(server, worker_factory, shop, browser_context):
    worker_factory()
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, server.url)

    # The campaign: the segment, a 10% holdout, two variants of the template's versions.
    page.goto(f"{server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Spring sale")
    page.select_option("#id_segments_from", label="Spring audience")
    page.click("#id_segments_add")
    page.fill("#id_holdout_percent", "10")
    page.fill("#id_variants-0-name", "A")
    page.select_option("#id_variants-0-template_version", label="Spring picks v1")
    page.check("#id_variants-0-is_control")
    page.fill("#id_variants-1-name", "B")
    page.select_option("#id_variants-1-template_version", label="Spring picks v2")
    page.fill("#id_variants-1-subject", "{{ customer.first_name }}, spring is here")
    page.get_by_role("button", name="Save and send").click()

    # Planned by the worker, not in the web request; then sent by it, 8 a second.
    expect(page.locator(".messagelist")).to_contain_text("“Spring sale” was saved and is starting")
    campaign = Campaign.objects.get(name="Spring sale")
    deadline = time.monotonic() + 30
    while campaign.planned_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        campaign.refresh_from_db()
    held = Message.objects.filter(campaign=campaign, status=MessageStatus.HELD_OUT).count()
    to_send = CONSENTED - held
    assert 0 < held < CONSENTED // 2
    assert campaign.left_out == {"no_consent": NOT_CONSENTED}

    # The box follows the ledger live: every value the socket brings is recorded, on this page.
    box = page.locator("#cp-progress")
    expect(box.locator('[data-cp="live"]')).to_contain_text("live")
    page.evaluate("""() => {
        window.seenSent = [];
        window.samePage = true;
        const sent = document.querySelector('[data-cp="sent"]');
        new MutationObserver(() => window.seenSent.push(sent.textContent))
            .observe(sent, {childList: true, characterData: true, subtree: true});
    }""")  # fmt: skip
    expect(box.locator('[data-cp="state"]')).to_have_text("Sent", timeout=60_000)
    expect(box.locator('[data-cp="sent"]')).to_have_text(str(to_send))
    expect(box.locator('[data-cp="to_send"]')).to_have_text(str(to_send))
    expect(box.locator('[data-cp="percent"]')).to_have_text("100")
    expect(box.locator('[data-cp-count="held_out"]')).to_have_text(str(held))
    expect(box.locator('[data-cp-count="planned"]')).to_have_text("0")
    expect(box.locator('[data-cp="left_out"]')).to_have_text(str(NOT_CONSENTED))
    assert page.evaluate("window.samePage") is True  # no reload: the socket did it
    seen = [int(value) for value in page.evaluate("window.seenSent")]
    assert len(set(seen)) >= 2, seen  # counts arrived as the batches went out, not only at the end
    assert seen == sorted(seen)
    assert box.locator("progress").get_attribute("value") == str(to_send)
    expect(box.locator(".cp-actions form[data-cp-when='sending']")).to_be_hidden()  # Pause: not for a sent one
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENT
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == to_send
    page.screenshot(path=SCREENSHOTS / "campaign-progress.png", full_page=True)

    # People engage; the results page shows each variant against control and the holdout.
    engagement(campaign)
    page.get_by_role("link", name="Results", exact=True).click()
    expect(page.locator("h1")).to_have_text("Results: Spring sale")
    arms = page.locator("#cr-arms")
    expect(arms.locator("thead th")).to_have_text(
        ["metric", re.compile(r"^A\s+control$"), "B", re.compile(r"^holdout\s+got nothing$")]
    )
    sent = Message.objects.filter(campaign=campaign, status=MessageStatus.SENT)
    counts = dict(sent.values_list("variant__name").annotate(Count("pk")))
    sent_row = arms.locator('tr[data-metric="recipients"] td')
    expect(sent_row).to_have_text([str(counts.get("A", 0)), str(counts.get("B", 0)), str(held)])
    expect(arms.locator('tr[data-metric="opens"] td').nth(0)).to_contain_text("by a privacy proxy only")
    expect(arms.locator('tr[data-metric="clicks"] td').nth(1)).to_contain_text("95% CI")
    expect(page.locator('table[data-arm="B"] tr[data-metric="clicks"]')).to_contain_text("decides the winner")
    expect(page.locator("caption", has_text="B against the holdout")).to_be_visible()
    expect(page.locator("#cr-left-out")).to_contain_text("No consent to marketing email")
    expect(page.locator("#cr-left-out tbody td")).to_have_text([str(NOT_CONSENTED)])
    expect(page.locator(".cr-decision")).to_contain_text("A split test")
    expect(page.locator("#cp-progress [data-cp='state']")).to_have_text("Sent")
    expect(page.locator("#cp-progress [data-cp='live']")).to_contain_text("live")
    page.screenshot(path=SCREENSHOTS / "campaign-results.png", full_page=True)
