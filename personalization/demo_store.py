"""A simulated shop for demos and model evaluation.

People here have hidden tastes (a few preferred categories), a price
sensitivity, an activity level and a lifecycle (regular, new, lapsing). They
browse in sessions shaped by a daily and weekly rhythm, view products they like,
add some to the cart and order some; others abandon their carts. The simulation
continues 30 days past the data it writes, and what it planted (tastes, who
buys next) is written as ground truth so that models can be scored against it.

Everything follows from the seed and the end date: the same pair gives the same
store, event for event.
"""

import json
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from consent.models import ConsentSource
from consent.selectors import addresses_with_decisions
from consent.services import ConsentRow, consents_import
from personalization.services import CustomerRow, ProductRow, customers_upsert, products_upsert
from tracking.models import EventType
from tracking.services import EventDraft, events_store

# name, median price, words for product names
CATEGORIES = [
    ("Apparel", 35, ["Shirt", "Hoodie", "Jacket", "Jeans", "Dress", "Sweater"]),
    ("Shoes", 80, ["Sneakers", "Boots", "Sandals", "Loafers", "Runners"]),
    ("Electronics", 220, ["Headphones", "Speaker", "Tablet", "Camera", "Smartwatch"]),
    ("Home & Kitchen", 45, ["Kettle", "Skillet", "Blender", "Lamp", "Throw"]),
    ("Beauty", 25, ["Serum", "Cleanser", "Lip Balm", "Moisturizer", "Palette"]),
    ("Books", 18, ["Novel", "Cookbook", "Atlas", "Memoir", "Guide"]),
    ("Sports & Outdoors", 60, ["Tent", "Yoga Mat", "Backpack", "Bottle", "Bike Light"]),
    ("Toys & Games", 30, ["Puzzle", "Board Game", "Blocks", "Plush", "Kite"]),
    ("Grocery", 12, ["Coffee", "Tea", "Olive Oil", "Chocolate", "Granola"]),
    ("Jewelry", 150, ["Ring", "Necklace", "Bracelet", "Earrings", "Pendant"]),
    ("Garden", 40, ["Planter", "Trowel", "Hose", "Seeds", "Lantern"]),
    ("Pet Supplies", 22, ["Leash", "Pet Bed", "Chew Toy", "Feeder", "Collar"]),
]
ADJECTIVES = ["Classic", "Urban", "Organic", "Premium", "Compact", "Vintage", "Everyday", "Nordic", "Bold", "Soft"]
FIRST_NAMES = [
    "Ava", "Ben", "Chloe", "Daniel", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jack", "Kira", "Leo", "Maya",
    "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara", "Zoe", "Aiko",
    "Bruno", "Clara", "Diego", "Elena", "Farah", "Gita", "Hana", "Ivan", "Jonas", "Lena", "Mateo", "Nora",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Garcia", "Müller", "Martin", "Rossi", "Tanaka", "Nowak", "Silva", "Brown", "Dubois", "Jensen",
    "Kowalski", "Lopez", "Nguyen", "Okafor", "Petrov", "Quist", "Schmidt", "Taylor", "Wilson", "Yamada", "Berg",
]  # fmt: skip
# time zone, locale, weight
REGIONS = [
    ("America/New_York", "en-US", 0.26),
    ("America/Chicago", "en-US", 0.12),
    ("America/Los_Angeles", "en-US", 0.14),
    ("Europe/London", "en-GB", 0.14),
    ("Europe/Berlin", "de-DE", 0.12),
    ("Europe/Paris", "fr-FR", 0.10),
    ("Asia/Tokyo", "ja-JP", 0.06),
    ("Australia/Sydney", "en-AU", 0.06),
]
# Relative chance that a session starts at each local hour, and on each weekday (Monday first).
HOURLY_RHYTHM = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 3.5, 4, 5, 4.5, 4, 4, 4.5, 5, 6, 7.5, 8, 7, 5, 2.5]
WEEKLY_RHYTHM = [0.9, 0.9, 0.95, 1.0, 1.1, 1.3, 1.25]

STORE_URL = "https://demo-store.example"
# Share of people who said yes at signup, to each purpose and (among email subscribers) topic.
CONSENT_CHANCES = {"email_marketing": 0.72, "tracking": 0.85, "personalization": 0.75}
TOPIC_CHANCES = {"newsletter": 0.8, "offers": 0.6, "product-updates": 0.4}
UNSUBSCRIBE_CHANCE = 0.04
HORIZON_DAYS = 30  # how far past the written data the ground truth looks
EVENTS_PER_SESSION = 5.27  # measured mean of the session model below, used to size the store


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 5000
    products: int = 500
    categories: int = 12
    events: int = 200_000
    days: int = 90
    seed: int = 42
    until: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    category: str
    price: float
    popularity: float
    in_stock: bool


@dataclass
class DemoPerson:
    external_id: str
    first_name: str
    last_name: str
    email: str
    timezone: str
    locale: str
    taste: dict[str, float]  # category -> weight, summing to 1
    price_sensitivity: float  # 0 (buys anything) .. 1 (buys only cheap)
    sessions_per_week: float
    buyer: float  # chance that a session with a full cart ends in an order
    lifecycle: str  # regular, new, lapsing
    active_from: datetime
    active_until: datetime
    events: list[EventDraft] = field(default_factory=list)

    @property
    def preferred_categories(self) -> list[str]:
        ranked = sorted(self.taste.items(), key=lambda kv: -kv[1])
        chosen, total = [], 0.0
        for category, weight in ranked:
            chosen.append(category)
            total += weight
            if total >= 0.7 or len(chosen) == 3:
                break
        return chosen


class DemoStore:
    """Generates the catalog, the people and their events for one seed."""

    def __init__(self, config: DemoConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.start = config.until - timedelta(days=config.days)
        self.categories = self._categories()
        self.catalog = self._catalog()
        self.by_category = {c: [p for p in self.catalog if p.category == c] for c, _, _ in self.categories}
        self.people = self._people()
        self._order_number = 0
        # Sessions are scaled to give the configured number of events; the future the
        # ground truth plants goes on at the same pace as the past.
        self.session_scale = self.config.events / EVENTS_PER_SESSION / max(sum(self._exposure()), 1e-9)

    def _exposure(self) -> list[float]:
        """Each person's expected sessions over their active days, before scaling."""
        return [p.sessions_per_week * (p.active_until - p.active_from).days / 7 for p in self.people]

    # --- catalog and people ---------------------------------------------------

    def _categories(self) -> list[tuple[str, float, list[str]]]:
        wanted = self.config.categories
        extra = [(f"Collection {i + 1}", 50, ["Item", "Set", "Kit"]) for i in range(max(0, wanted - len(CATEGORIES)))]
        return (CATEGORIES + extra)[:wanted]

    def _catalog(self) -> list[DemoProduct]:
        products = []
        for index in range(self.config.products):
            category, median, nouns = self.categories[index % len(self.categories)]
            price = round(median * math.exp(self.rng.gauss(0, 0.55)), 2)
            products.append(
                DemoProduct(
                    sku=f"SKU-{index + 1:05d}",
                    name=f"{self.rng.choice(ADJECTIVES)} {self.rng.choice(nouns)}",
                    category=category,
                    price=max(price, 1.0),
                    popularity=self.rng.paretovariate(1.3),  # a few bestsellers, a long tail
                    in_stock=self.rng.random() > 0.05,
                )
            )
        return products

    def _taste(self) -> dict[str, float]:
        # Dirichlet(0.3): most weight on one to three categories.
        draws = {c: self.rng.gammavariate(0.3, 1.0) for c, _, _ in self.categories}
        total = sum(draws.values()) or 1.0
        return {c: w / total for c, w in draws.items()}

    def _people(self) -> list[DemoPerson]:
        people = []
        zones = [zone for zone, _, _ in REGIONS]
        locales = {zone: locale for zone, locale, _ in REGIONS}
        weights = [weight for _, _, weight in REGIONS]
        for index in range(self.config.customers):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            zone = self.rng.choices(zones, weights)[0]
            lifecycle = self.rng.choices(["regular", "new", "lapsing"], [0.77, 0.08, 0.15])[0]
            active_from, active_until = self.start, self.config.until
            if lifecycle == "new":
                active_from = self.config.until - timedelta(days=self.rng.uniform(1, 14))
            elif lifecycle == "lapsing":
                active_until = self.config.until - timedelta(days=self.rng.uniform(30, 60))
            elif self.rng.random() < 0.3:  # joined during the window
                active_from = self.start + timedelta(days=self.rng.uniform(0, self.config.days - 14))
            ascii_last = last.replace("ü", "ue")
            people.append(
                DemoPerson(
                    external_id=f"cust-{index + 1:06d}",
                    first_name=first,
                    last_name=last,
                    email=f"{first}.{ascii_last}.{index + 1}@example.com".lower(),
                    timezone=zone,
                    locale=locales[zone],
                    taste=self._taste(),
                    price_sensitivity=self.rng.betavariate(2, 2),
                    sessions_per_week=math.exp(self.rng.gauss(0, 0.8)),
                    buyer=self.rng.betavariate(2, 3),
                    lifecycle=lifecycle,
                    active_from=active_from,
                    active_until=active_until,
                )
            )
        return people

    def product_rows(self) -> list[ProductRow]:
        return [
            ProductRow(
                sku=p.sku,
                name=p.name,
                category=p.category,
                price=Decimal(str(p.price)),
                currency="USD",
                url=f"{STORE_URL}/products/{p.sku.lower()}",
                image_url=f"{STORE_URL}/images/{p.sku.lower()}.jpg",
                in_stock=p.in_stock,
            )
            for p in self.catalog
        ]

    def customer_rows(self) -> list[CustomerRow]:
        return [
            CustomerRow(
                external_id=p.external_id,
                email=p.email,
                first_name=p.first_name,
                last_name=p.last_name,
                timezone=p.timezone,
                locale=p.locale,
                first_seen_at=min((e.occurred_at for e in p.events), default=None),
                last_seen_at=max((e.occurred_at for e in p.events), default=None),
            )
            for p in self.people
        ]

    # --- behavior -------------------------------------------------------------

    def simulate(self) -> None:
        """Fill each person's events. Sessions are shared out so that the store
        has about the configured number of events."""
        for person, weight in zip(self.people, self._exposure(), strict=True):
            sessions = self._poisson(weight * self.session_scale)
            if person.lifecycle == "new":
                sessions = max(sessions, 1)
            starts = sorted(self._session_start(person) for _ in range(sessions))
            for number, start in enumerate(starts):
                # A newcomer's first visit is anonymous until they sign up at its end.
                anonymous = person.lifecycle == "new" and number == 0
                self._session(person, start, anonymous=anonymous)
        for person in self.rng.sample(self.people, k=max(1, len(self.people) // 40)):
            # Fresh cart abandoners: an abandoned cart in the last day.
            start = self.config.until - timedelta(hours=self.rng.uniform(1, 22))
            self._session(person, start, abandon=True)

    def events(self) -> Iterator[EventDraft]:
        for person in self.people:
            yield from person.events

    def _poisson(self, mean: float) -> int:
        # Knuth's method is fine for the small means of sessions per person.
        if mean > 50:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    def _session_start(self, person: DemoPerson) -> datetime:
        zone = ZoneInfo(person.timezone)
        span_days = max((person.active_until - person.active_from).total_seconds() / 86400, 0.01)
        while True:
            moment = person.active_from + timedelta(days=self.rng.uniform(0, span_days))
            local = moment.astimezone(zone)
            chance = HOURLY_RHYTHM[local.hour] / 8 * WEEKLY_RHYTHM[local.weekday()] / 1.3
            if self.rng.random() < chance:
                return moment

    def _pick_product(self, person: DemoPerson) -> DemoProduct:
        if self.rng.random() < 0.15:  # some browsing outside one's tastes
            category = self.rng.choice(self.categories)[0]
        else:
            category = self.rng.choices(list(person.taste), list(person.taste.values()))[0]
        products = self.by_category[category]
        median = next(m for c, m, _ in self.categories if c == category)
        weights = [p.popularity * math.exp(-2 * person.price_sensitivity * p.price / median) for p in products]
        return self.rng.choices(products, weights)[0]

    def _session(self, person: DemoPerson, start: datetime, *, anonymous: bool = False, abandon: bool = False) -> None:
        session = _Session(self, person, start, anonymous=anonymous)
        session.emit(EventType.PAGE_VIEWED, url=f"{STORE_URL}/", path="/", title="Home")
        cart: list[DemoProduct] = []
        for _ in range(1 + self._poisson(2.5)):
            product = self._pick_product(person)
            session.emit(EventType.PRODUCT_VIEWED, product)
            liked = person.taste[product.category] > 0.2
            if self.rng.random() < (0.22 if liked else 0.06) * (1.2 - person.price_sensitivity * 0.6):
                cart.append(product)
                session.emit(EventType.PRODUCT_ADDED, product, quantity=1)
        if anonymous:
            session.identify()
        if cart and not abandon and self.rng.random() < person.buyer:
            self._order_number += 1
            total = round(sum(p.price for p in cart), 2)
            session.emit(EventType.CHECKOUT_STARTED, value=total, currency="USD")
            session.emit(
                EventType.ORDER_COMPLETED,
                order_id=f"ORD-{self.config.seed}-{self._order_number:07d}",
                total=total,
                revenue=total,
                currency="USD",
                products=[product_properties(p) | {"quantity": 1} for p in cart],
            )

    # --- consent ----------------------------------------------------------------

    def consent_rows(self) -> list[ConsentRow]:
        """What each person agreed to when they signed up, and the few who later unsubscribed."""
        rng = random.Random(f"{self.config.seed}-consent")  # apart, so that events do not depend on it
        rows = []
        for person in self.people:
            signed_up = person.active_from - timedelta(days=rng.uniform(0, 30))
            if rng.random() < CONSENT_CHANCES["email_marketing"]:
                rows.append(ConsentRow(person.email, "email_marketing", "granted", recorded_at=signed_up))
                rows += [
                    ConsentRow(person.email, "email_marketing", "granted", topic=topic, recorded_at=signed_up)
                    for topic, chance in TOPIC_CHANCES.items()
                    if rng.random() < chance
                ]
                if rng.random() < UNSUBSCRIBE_CHANCE:
                    left = signed_up + (self.config.until - signed_up) * rng.random()
                    rows.append(ConsentRow(person.email, "email_marketing", "withdrawn", recorded_at=left))
            rows += [
                ConsentRow(person.email, purpose, "granted", recorded_at=signed_up)
                for purpose in ("tracking", "personalization")
                if rng.random() < CONSENT_CHANCES[purpose]
            ]
        return rows

    # --- ground truth ---------------------------------------------------------

    def ground_truth(self) -> dict:
        """What the simulation planted, and who buys in the 30 days after the data ends."""
        # Its own generator, so that the truth is the same however often it is asked for.
        rng = random.Random(f"{self.config.seed}-ground-truth")
        customers = {}
        for person in self.people:
            still_active = person.active_until >= self.config.until
            weekly = person.sessions_per_week * self.session_scale
            sessions = weekly * HORIZON_DAYS / 7 if still_active else 0.0
            order_chance_per_session = person.buyer * 0.45  # about how often a session fills a cart
            probability = 1 - math.exp(-sessions * order_chance_per_session)
            customers[person.external_id] = {
                "preferred_categories": person.preferred_categories,
                "category_weights": {c: round(w, 4) for c, w in person.taste.items()},
                "price_sensitivity": round(person.price_sensitivity, 4),
                "lifecycle": person.lifecycle,
                "purchase_probability_30d": round(probability, 4),
                "will_buy_next_30d": rng.random() < probability,
            }
        return {
            "seed": self.config.seed,
            "until": self.config.until.isoformat(),
            "horizon_days": HORIZON_DAYS,
            "customers": customers,
        }


def product_properties(product: DemoProduct) -> dict:
    """A product as Segment's E-commerce spec describes it in event properties."""
    return {
        "product_id": product.sku,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "price": product.price,
        "currency": "USD",
        "url": f"{STORE_URL}/products/{product.sku.lower()}",
    }


class _Session:
    """One visit: a fresh anonymous id, a clock that moves on with each event,
    and the user id once the person is known."""

    def __init__(self, store: DemoStore, person: DemoPerson, start: datetime, *, anonymous: bool):
        self.store, self.person, self.clock = store, person, start
        self.user_id = "" if anonymous else person.external_id
        self.anonymous_id = self._new_id()

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.store.rng.getrandbits(128), version=4))

    def emit(self, event_type: str, product: DemoProduct | None = None, **properties) -> None:
        self.clock += timedelta(seconds=self.store.rng.uniform(15, 150))
        if product is not None:
            properties = {**product_properties(product), **properties}
        self.person.events.append(
            EventDraft(
                message_id=self._new_id(),
                type=event_type,
                occurred_at=self.clock,
                user_id=self.user_id,
                anonymous_id=self.anonymous_id,
                product_sku=product.sku if product else "",
                properties=properties,
                context={"library": {"name": "tailor-demo", "version": "1"}, "timezone": self.person.timezone},
            )
        )

    def identify(self) -> None:
        """The visitor signs up: from here on events carry their user id."""
        self.user_id = self.person.external_id
        person = self.person
        self.emit(EventType.IDENTIFY, email=person.email, first_name=person.first_name, last_name=person.last_name)


@dataclass(frozen=True)
class DemoSeeded:
    products: int
    customers: int
    consent_records: int
    events_stored: int
    events_duplicate: int
    ground_truth_path: str


EVENTS_PER_WRITE = 2000


def demo_store_seed(*, config: DemoConfig, ground_truth_path: Path) -> DemoSeeded:
    """Simulate the store and write it through the same services real data takes."""
    store = DemoStore(config)
    store.simulate()
    products = products_upsert(rows=store.product_rows())
    customers = customers_upsert(rows=store.customer_rows())
    # A second run must not record everyone's signup twice: the ledger keeps every record.
    rows = store.consent_rows()
    decided = addresses_with_decisions(emails=[row.email for row in rows])
    rows = [row for row in rows if row.email not in decided]
    consents = consents_import(rows=rows, source=ConsentSource.SIGNUP_FORM, policy_version="1", actor="demo store")
    customer_ids = {c.external_id: c.pk for c in customers}
    stored = duplicates = 0
    batch: list[EventDraft] = []
    for draft in store.events():
        batch.append(replace(draft, customer_id=customer_ids.get(draft.user_id)))
        if len(batch) == EVENTS_PER_WRITE:
            result = events_store(drafts=batch)
            stored, duplicates, batch = stored + result.stored, duplicates + result.duplicates, []
    if batch:
        result = events_store(drafts=batch)
        stored, duplicates = stored + result.stored, duplicates + result.duplicates
    ground_truth_path.parent.mkdir(parents=True, exist_ok=True)
    ground_truth_path.write_text(json.dumps(store.ground_truth(), indent=1))
    return DemoSeeded(
        products=len(products),
        customers=len(customers),
        consent_records=consents.records,
        events_stored=stored,
        events_duplicate=duplicates,
        ground_truth_path=str(ground_truth_path),
    )


@dataclass(frozen=True)
class DemoCaughtUp:
    events_processed: int
    versions: list  # the model versions trained, in order (recommender, purchase, churn)
    seconds: float


def demo_store_catch_up() -> DemoCaughtUp:
    """Fold waiting events into profiles, traits and segments and train the models, as a
    worker would over time (in embedded mode none runs to do it). Nothing waiting: nothing done."""
    from personalization.models import ModelKind
    from personalization.propensity.training import propensity_train
    from personalization.recommendations.training import recommender_train
    from personalization.segments.services import segments_refresh_all
    from personalization.services.traits import traits_recompute
    from tracking.services import events_process

    started = time.monotonic()
    processed = events_process()
    versions = []
    if processed:
        traits_recompute()
        segments_refresh_all()
        events_process()  # the segments' entry events
        versions = [recommender_train(), *(propensity_train(kind=k) for k in (ModelKind.PURCHASE, ModelKind.CHURN))]
    return DemoCaughtUp(events_processed=processed, versions=versions, seconds=time.monotonic() - started)
