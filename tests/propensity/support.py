"""A planted shop for the propensity tests, and small helpers to build events.

Everyone in the shop said yes to personalization (the suite runs under the opt-in
regime, where a yes must be on record). Three groups order with their own rhythm:

- active: every two weeks or so, up to now;
- slow: every two months or so, up to now, each on their own phase (whether they order
  in the next 30 days depends on how long ago their last order was *against their
  rhythm*, which the recency-frequency baseline cannot see and XGBoost's gap and
  overdue features can);
- lapsed: every two weeks or so, until they stopped (by default one to seven months ago).
"""

import functools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consent.models import ConsentSource, Purpose
from consent.services import consent_grant, consent_withdraw
from personalization.models import Customer, ModelKind, ModelStatus, ModelVersion
from tests.factories import CustomerFactory, EventFactory
from tracking.models import Event, EventType

DAY = timedelta(days=1)


@dataclass
class Shop:
    now: datetime
    active: list[Customer]
    slow: list[Customer]
    lapsed: list[Customer]


def personalization_grant(customer: Customer) -> None:
    consent_grant(customer=customer, purpose=Purpose.PERSONALIZATION, source=ConsentSource.API,
                  actor="api-key:tests", policy_version="1", wording="Yes, tailor what I see.")  # fmt: skip


def personalization_withdraw(customer: Customer) -> None:
    consent_withdraw(customer=customer, purpose=Purpose.PERSONALIZATION, source=ConsentSource.API,
                     actor="api-key:tests", policy_version="1", wording="No more tailoring.")  # fmt: skip


def consenting_customer(**fields) -> Customer:
    customer = CustomerFactory(**fields)
    personalization_grant(customer)
    return customer


def event(customer: Customer, event_type: str, at: datetime, **fields) -> Event:
    """An event of `customer`, unsaved and already processed (no hook runs for it)."""
    return EventFactory.build(customer=customer, type=event_type, occurred_at=at, message_id=str(uuid.uuid4()),
                              **fields)  # fmt: skip


def order(customer: Customer, at: datetime, amount: float = 50.0) -> Event:
    return event(customer, EventType.ORDER_COMPLETED, at, properties={"revenue": amount})


def events_save(events) -> None:
    Event.objects.bulk_create(list(events), batch_size=2000)


def _rhythm(rng: random.Random, start: datetime, end: datetime, every: float, jitter: float) -> list[datetime]:
    moments, at = [], start
    while at < end:
        moments.append(at)
        at += DAY * (every + rng.uniform(-jitter, jitter))
    return moments


def shop_build(*, now: datetime, active: int = 30, slow: int = 150, lapsed: int = 30, days: int = 240,
               stopped: tuple[int, int] = (40, 210), seed: int = 11) -> Shop:  # fmt: skip
    """`stopped`: how many days ago the lapsed customers stopped, at most and at least."""
    rng = random.Random(seed)
    start = now - DAY * days
    shop = Shop(now=now, active=[], slow=[], lapsed=[])
    events = []
    plans = [("active", active, 14, None), ("slow", slow, 60, None), ("lapsed", lapsed, 14, stopped)]
    for group, count, every, stopped in plans:
        for n in range(count):
            customer = consenting_customer(external_id=f"{group}-{n}")
            first = start + DAY * rng.uniform(0, every)
            end = now - DAY * rng.uniform(*stopped) if stopped else now - DAY * 0.5
            for at in _rhythm(rng, first, end, every, jitter=every / 10):
                events.append(order(customer, at, amount=round(rng.uniform(20, 120), 2)))
            getattr(shop, group).append(customer)
    events_save(events)
    return shop


# --- an order log, and a purchase model fitted on it -----------------------------------------


def order_log(
    *, start: datetime, end: datetime, customers: int = 200, seed: int = 5
) -> list[tuple[str, datetime, float]]:
    """(customer, moment, amount) at midnight: half the customers order until `end`, half stop
    somewhere on the way; each every two weeks, month or two months or so."""
    rng = random.Random(seed)
    log = []
    for n in range(customers):
        every = rng.choice([14, 30, 60])
        stop = end if n % 2 == 0 else start + (end - start) * rng.uniform(0.2, 0.9)
        at = start + DAY * rng.randint(0, every)
        while at < stop:
            log.append((f"{n + 1:05d}", at, round(rng.uniform(10, 100), 2)))
            at += DAY * round(every * rng.uniform(0.8, 1.2))
    return log


@functools.cache
def purchase_artifact() -> bytes:
    """A purchase model as training would store it, fitted on a generated order log (once)."""
    from personalization.propensity.features import features_from_orders
    from personalization.propensity.training import TARGETS, stacked, training_cutoffs, xgboost_fit

    end = datetime(2026, 1, 1, tzinfo=UTC)
    horizon = TARGETS[ModelKind.PURCHASE].horizon
    log = order_log(start=end - DAY * 400, end=end)
    x, y = stacked(
        features_from_orders(log, at, horizon) for at in [end - horizon, *training_cutoffs(end - horizon, horizon)]
    )
    return bytes(xgboost_fit(x, y).get_booster().save_raw(raw_format="ubj"))


def purchase_model_activate() -> ModelVersion:
    return ModelVersion.objects.create(kind=ModelKind.PURCHASE, status=ModelStatus.ACTIVE, artifact=purchase_artifact(),
                                       metrics={"auc": 0.8}, baseline_metrics={"auc": 0.7})  # fmt: skip
