"""What a campaign earned, per variant and for the holdout.

Counts come from the ledger (who was sent what) and from the events that came back:
deliveries, bounces and complaints from ESP webhooks, opens and clicks from the pixel
and the redirect, orders from the shop. Opens are unique per recipient and by people:
opens through a privacy proxy (Apple Mail Privacy Protection) are counted apart and
scanners' not at all, as are scanners' clicks. A conversion is an order within the
attribution window after the recipient's first click by a person. The holdout got
nothing, so it cannot click: against it, Tailor compares orders within the window after
the send (after the time the holdout would have been sent), which is what the campaign
added over doing nothing.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from campaigns.experiments.stats import (
    Interval,
    Test,
    probability_to_beat,
    proportions_z_test,
    welch_t_test,
    wilson_interval,
)
from campaigns.models import Campaign, Message, MessageStatus, WinnerMetric
from consent.selectors import email_withdrawals_since
from personalization.services import order_value
from tracking.models import Event, EventType

HOLDOUT = "holdout"
RATES = ("delivered", "bounced", "opens", "clicks", "conversions", "orders", "unsubscribes", "complaints")


@dataclass
class Arm:
    """One variant's recipients (or the holdout's), and what they did."""

    name: str
    variant_id: int | None
    is_control: bool = False
    recipients: int = 0
    delivered: int = 0
    bounced: int = 0
    opens: int = 0
    proxy_opens: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0")
    orders: int = 0  # recipients with an order within the window after the send
    order_revenue: Decimal = Decimal("0")
    unsubscribes: int = 0
    complaints: int = 0
    revenue_each: list[float] = field(default_factory=list, repr=False)  # attributed revenue per recipient
    order_revenue_each: list[float] = field(default_factory=list, repr=False)

    def rate(self, metric: str) -> float:
        return getattr(self, metric) / self.recipients if self.recipients else 0.0

    def interval(self, metric: str) -> Interval:
        return wilson_interval(getattr(self, metric), self.recipients)

    def revenue_per_recipient(self) -> float:
        return float(self.revenue) / self.recipients if self.recipients else 0.0


@dataclass
class Comparison:
    metric: str
    lift: float | None  # relative: (arm - base) / base; None when the base is 0
    test: Test
    probability_to_beat: float | None  # Bayesian, for rates


@dataclass
class CampaignResults:
    arms: list[Arm]
    against_control: dict[str, list[Comparison]]  # arm name: comparisons with control
    against_holdout: dict[str, list[Comparison]]  # arm name: orders and order revenue, with the holdout


@dataclass
class _Ledger:
    arm: int | None  # the variant's id, None for the holdout (a variant may be called "holdout" too)
    customer_id: int
    at: datetime  # sent, or when the holdout would have been


def _ledger(campaign: Campaign, group: str | None) -> dict[int, _Ledger]:
    rows = Message.objects.filter(campaign=campaign, status__in=[MessageStatus.SENT, MessageStatus.HELD_OUT])
    if group is not None:
        rows = rows.filter(audience_group=group)
    start = campaign.started_at or campaign.planned_at or campaign.created_at
    ledger = {}
    for pk, customer_id, variant_id, status, sent_at, send_after in rows.values_list(
        "pk", "customer_id", "variant_id", "status", "sent_at", "send_after"
    ):
        held = status == MessageStatus.HELD_OUT
        at = (send_after or start) if held else sent_at
        ledger[pk] = _Ledger(None if held else variant_id, customer_id, at)
    return ledger


def _engagement(ledger: dict[int, _Ledger]) -> dict[int, dict]:
    """Per message: which email events came back, and the first human click."""
    seen: dict[int, dict] = defaultdict(dict)
    kinds = [EventType.EMAIL_DELIVERED, EventType.EMAIL_BOUNCED, EventType.EMAIL_OPENED, EventType.EMAIL_LINK_CLICKED,
             EventType.EMAIL_MARKED_AS_SPAM]  # fmt: skip
    events = Event.objects.filter(email_message_id__in=list(ledger), type__in=kinds)
    for message_id, kind, properties, at in events.values_list("email_message_id", "type", "properties", "occurred_at"):
        facts = seen[message_id]
        if kind == EventType.EMAIL_OPENED:
            if properties.get("bot"):
                continue
            kind = "proxy_open" if properties.get("privacy_proxy") else kind
        if kind == EventType.EMAIL_LINK_CLICKED:
            if properties.get("bot"):
                continue
            facts["first_click"] = min(at, facts.get("first_click", at))
        facts[kind] = True
    return seen


def _orders(ledger: dict[int, _Ledger], window: timedelta) -> dict[int, list[tuple[datetime, Decimal]]]:
    """Each recipient's orders from the earliest send to the latest send plus the window."""
    if not ledger:
        return {}
    start = min(row.at for row in ledger.values() if row.at)
    end = max(row.at for row in ledger.values() if row.at) + window
    orders = Event.objects.filter(
        type=EventType.ORDER_COMPLETED, customer_id__in={row.customer_id for row in ledger.values()},
        occurred_at__gte=start, occurred_at__lte=end,
    )  # fmt: skip
    by_customer: dict[int, list] = defaultdict(list)
    for customer_id, at, properties in orders.values_list("customer_id", "occurred_at", "properties"):
        by_customer[customer_id].append((at, order_value(properties)))
    return by_customer


def campaign_results(*, campaign: Campaign, group: str | None = None) -> CampaignResults:
    """Per variant and the holdout; `group` (AudienceGroup) limits it to the test group, say."""
    window = timedelta(hours=campaign.attribution_hours)
    ledger = _ledger(campaign, group)
    engagement = _engagement(ledger)
    orders = _orders(ledger, window)
    unsubscribed = email_withdrawals_since(
        customer_ids={row.customer_id for row in ledger.values()},
        since=min((row.at for row in ledger.values() if row.at), default=campaign.created_at),
    )  # fmt: skip
    control = campaign.variants.filter(is_control=True).values_list("name", flat=True).first()
    arms = {v.pk: Arm(v.name, v.pk, v.name == control) for v in campaign.variants.all()}
    holdout = arms[None] = Arm(HOLDOUT, None)
    for message_id, row in ledger.items():
        arm, facts = arms[row.arm], engagement.get(message_id, {})
        arm.recipients += 1
        arm.delivered += EventType.EMAIL_DELIVERED in facts
        arm.bounced += EventType.EMAIL_BOUNCED in facts
        arm.opens += EventType.EMAIL_OPENED in facts
        arm.proxy_opens += "proxy_open" in facts and EventType.EMAIL_OPENED not in facts
        arm.clicks += EventType.EMAIL_LINK_CLICKED in facts
        arm.complaints += EventType.EMAIL_MARKED_AS_SPAM in facts
        withdrew = unsubscribed.get(row.customer_id)
        arm.unsubscribes += bool(row.at and withdrew and row.at <= withdrew <= row.at + window)
        after_send = [v for at, v in orders.get(row.customer_id, []) if row.at and row.at <= at <= row.at + window]
        arm.orders += bool(after_send)
        arm.order_revenue += sum(after_send, Decimal("0"))
        arm.order_revenue_each.append(float(sum(after_send, Decimal("0"))))
        click = facts.get("first_click")
        attributed = [v for at, v in orders.get(row.customer_id, []) if click and click <= at <= click + window]
        arm.conversions += bool(attributed)
        arm.revenue += sum(attributed, Decimal("0"))
        arm.revenue_each.append(float(sum(attributed, Decimal("0"))))
    listed = [arm for arm in arms.values() if arm.variant_id is not None or arm.recipients]
    variants = [a for a in listed if a.variant_id is not None]
    base = next((a for a in variants if a.is_control), None)
    return CampaignResults(
        arms=listed,
        against_control={a.name: arm_compare(base, a) for a in variants if base and a is not base},
        against_holdout={a.name: holdout_compare(holdout, a) for a in variants if holdout.recipients},
    )


def _lift(arm: float, base: float) -> float | None:
    return (arm - base) / base if base else None


def _rate_comparison(metric: str, base: Arm, arm: Arm) -> Comparison:
    counts = ((getattr(base, metric), base.recipients), (getattr(arm, metric), arm.recipients))
    return Comparison(metric, _lift(arm.rate(metric), base.rate(metric)), proportions_z_test(*counts),
                      probability_to_beat(*counts) if base.recipients and arm.recipients else None)  # fmt: skip


def arm_compare(control: Arm, arm: Arm) -> list[Comparison]:
    """An arm against control: each rate (z-test, Bayesian) and revenue per recipient (Welch)."""
    rates = [_rate_comparison(metric, control, arm) for metric in RATES]
    revenue = welch_t_test(np.array(control.revenue_each), np.array(arm.revenue_each))
    lift = _lift(arm.revenue_per_recipient(), control.revenue_per_recipient())
    return [*rates, Comparison(WinnerMetric.REVENUE, lift, revenue, None)]


def holdout_compare(holdout: Arm, arm: Arm) -> list[Comparison]:
    """An arm against the holdout: orders within the window after the send, and their revenue per recipient."""
    revenue = welch_t_test(np.array(holdout.order_revenue_each), np.array(arm.order_revenue_each))
    base = float(holdout.order_revenue) / holdout.recipients if holdout.recipients else 0.0
    mine = float(arm.order_revenue) / arm.recipients if arm.recipients else 0.0
    return [_rate_comparison("orders", holdout, arm), Comparison("order_revenue", _lift(mine, base), revenue, None)]
