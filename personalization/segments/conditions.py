"""The conditions Tailor's segments are built from: traits, events, consent and
membership of another segment. Each is a RuleKind registered in rules.py.

Time is never computed in SQL: "days since the last order >= 60" becomes
"last order at or before now - 60 days", which every database (and index) takes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DateTimeField, Exists, OuterRef, Q

from core.db import RuntimeValue
from personalization.segments.rules import (
    ANY_EVENT,
    CONSENT_CHANGED,
    NAME,
    Flip,
    RuleError,
    choice,
    duration_parse,
    literal,
    number,
    required,
    rule_kind_register,
)
from personalization.services.traits import ENGAGEMENT_EVENTS, engagement_log_threshold, engagement_now

NUMBER_OPS = {"=": "exact", "!=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
SET_OPS = ("is set", "is not set")
TEXT_OPS = ("=", "!=", "contains", "starts with", "in", *SET_OPS)
LIST_OPS = ("contains", "does not contain")
DAYS_OPS = (">=", ">", "<=", "<", "=", *SET_OPS)
MAX_DAYS = 36_500  # a hundred years; far more would put "now - days" before year 1
COUNT_OPS = (">=", "=", "<=")
ORDER = "Order Completed"


# --- traits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trait:
    """A fact about a customer that rules can compare: its column, what kind of value
    it holds, and which events can change it."""

    name: str
    label: str
    kind: str  # number | text | list | days | score
    column: str
    triggers: frozenset[str]
    read: Callable | None = None  # the value for one customer, when it is not the column itself

    @property
    def ops(self) -> tuple[str, ...]:
        return {
            "number": (*NUMBER_OPS, "between", *SET_OPS),
            "score": tuple(NUMBER_OPS)[2:],
            "text": TEXT_OPS,
            "list": LIST_OPS,
            "days": DAYS_OPS,
        }[self.kind]


_ORDERS = frozenset({ORDER})
TRAITS = {
    t.name: t
    for t in [
        Trait("order_count", "Number of orders", "number", "traits__order_count", _ORDERS),
        Trait("lifetime_value", "Lifetime value (revenue)", "number", "traits__revenue", _ORDERS),
        Trait("average_order_value", "Average order value", "number", "traits__average_order_value", _ORDERS),
        Trait("rfm_recency", "RFM recency score (1-5)", "number", "traits__rfm_recency", _ORDERS),
        Trait("rfm_frequency", "RFM frequency score (1-5)", "number", "traits__rfm_frequency", _ORDERS),
        Trait("rfm_monetary", "RFM monetary score (1-5)", "number", "traits__rfm_monetary", _ORDERS),
        Trait(
            "engagement_score", "Engagement score (decays by half every 14 days)", "score", "traits__engagement_log",
            ENGAGEMENT_EVENTS, read=lambda traits, now: round(engagement_now(traits.engagement_log, now), 2),
        ),
        Trait("email_opens_30d", "Email opens in 30 days", "number", "traits__email_opens_30d",
              frozenset({"Email Opened"})),
        Trait("email_clicks_30d", "Email clicks in 30 days", "number", "traits__email_clicks_30d",
              frozenset({"Email Link Clicked"})),
        Trait("site_visits_30d", "Site visits in 30 days", "number", "traits__site_visits_30d",
              frozenset({"Page Viewed"})),
        Trait("favorite_categories", "Favorite categories", "list", "traits__favorite_categories",
              frozenset({"Product Viewed", "Product Added", ORDER})),
        Trait("days_since_last_order", "Days since the last order", "days", "traits__last_order_at", _ORDERS),
        Trait("days_since_first_order", "Days since the first order", "days", "traits__first_order_at", _ORDERS),
        Trait("days_since_last_seen", "Days since last seen", "days", "last_seen_at", frozenset({ANY_EVENT})),
        Trait("days_since_first_seen", "Days since first seen", "days", "first_seen_at", frozenset({ANY_EVENT})),
        Trait("days_since_signup", "Days since the profile was made", "days", "created_at", frozenset({ANY_EVENT})),
        Trait("email", "Email address", "text", "email", frozenset({"Identify"})),
        Trait("first_name", "First name", "text", "first_name", frozenset({"Identify"})),
        Trait("locale", "Locale", "text", "locale", frozenset({"Identify"})),
        Trait("timezone", "Time zone", "text", "timezone", frozenset({"Identify"})),
    ]
}  # fmt: skip
WHOLE_NUMBERS = frozenset({"order_count", "rfm_recency", "rfm_frequency", "rfm_monetary", "email_opens_30d",
                           "email_clicks_30d", "site_visits_30d"})  # fmt: skip
ATTRIBUTE_PREFIX = "attributes."  # "attributes.plan": a trait the shop sent with identify


def trait_get(name: str, path: str) -> Trait:
    if isinstance(name, str) and name.startswith(ATTRIBUTE_PREFIX):
        key = name.removeprefix(ATTRIBUTE_PREFIX)
        if not NAME.match(key) or "__" in key:
            raise RuleError(path, f"{key!r} is not an attribute name: use letters, digits and single underscores.")
        return Trait(name, f"Attribute {key}", "text", f"attributes__{key}", frozenset({"Identify"}))
    if name not in TRAITS:
        raise RuleError(path, f"{name!r} is not a trait: use one of {', '.join(TRAITS)} or attributes.<name>.")
    return TRAITS[name]


def _compare(column: str, op: str, value, *, text: bool = True) -> Q:
    if op in SET_OPS:
        known, unset = Q(**{f"{column}__isnull": False}), Q(**{f"{column}__isnull": True})
        if text:
            # An empty text, or a JSON null sent as an attribute, is not set either (a number
            # or a moment has no empty value). __exact is spelt out because an attribute may
            # be named like a lookup ("in", "contains" ...).
            for empty in ("", None):
                blank = Q(**{f"{column}__exact": empty})
                known, unset = known & ~blank, unset | blank
        return known if op == "is set" else unset
    if op == "between":
        return Q(**{f"{column}__gte": value[0], f"{column}__lte": value[1]})
    if op == "contains":
        return Q(**{f"{column}__icontains": value})
    if op == "starts with":
        return Q(**{f"{column}__istartswith": value})
    if op == "in":
        return Q(**{f"{column}__in": value})
    condition = Q(**{f"{column}__{NUMBER_OPS[op]}": value})
    return ~condition & Q(**{f"{column}__isnull": False}) if op == "!=" else condition


def _score_range(column: str, op: str, score: float, now: datetime) -> Q:
    """A score compared now. No activity (no log) scores 0, and a score is never negative."""
    inactive, nobody = Q(**{f"{column}__isnull": True}), Q(pk__in=[])
    if score < 0:
        return Q() if op in (">", ">=") else nobody
    if score == 0:
        return {">": Q(**{f"{column}__isnull": False}), ">=": Q(), "<": nobody, "<=": inactive}[op]
    condition = Q(**{f"{column}__{NUMBER_OPS[op]}": engagement_log_threshold(score, now)})
    return condition | inactive if op in ("<", "<=") else condition


def _days_range(column: str, op: str, days: int, now: datetime) -> Q:
    """Whole days since a moment, as bounds on the moment itself."""
    at_least = lambda n: Q(**{f"{column}__lte": now - timedelta(days=n)})  # noqa: E731
    under = lambda n: Q(**{f"{column}__gt": now - timedelta(days=n)})  # noqa: E731
    return {
        ">=": lambda: at_least(days),
        ">": lambda: at_least(days + 1),
        "<=": lambda: under(days + 1),
        "<": lambda: under(days),
        "=": lambda: at_least(days) & under(days + 1),
    }[op]()


class TraitCondition:
    label = "Trait"

    def check(self, node, path):
        trait = trait_get(required(node, "trait", path), f"{path}.trait")
        op = choice(node, "op", trait.ops, path)
        if op in SET_OPS:
            return
        value = node.get("value")
        where = f"{path}.value"
        if op == "between":
            if not (isinstance(value, list) and len(value) == 2):
                raise RuleError(where, "'between' needs two numbers, e.g. [10, 50].")
            low, high = number(value[0], where), number(value[1], where)
            if low > high:
                raise RuleError(where, f"The range {low} to {high} is empty: put the smaller number first.")
        elif op == "in":
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                raise RuleError(where, "'in' needs a non-empty list of texts.")
        elif trait.kind in ("number", "score"):
            number(value, where)
        elif trait.kind == "days":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RuleError(where, f"{value!r} is not a whole number of days (0 or more).")
            if value > MAX_DAYS:
                raise RuleError(where, f"{value} days is more than a hundred years: use at most {MAX_DAYS}.")
        elif not isinstance(value, str) or not value:
            raise RuleError(where, f"{value!r} is not a text to compare with.")

    def condition(self, node, *, now, among=None):
        trait, op, value = trait_get(node["trait"], ""), node["op"], node.get("value")
        if trait.kind == "days" and op not in SET_OPS:
            return _days_range(trait.column, op, value, now)
        if trait.kind == "score":
            return _score_range(trait.column, op, value, now)
        if trait.kind == "list":
            # JSON text matching works on every database: '"Shoes"' inside '["Shoes", "Bags"]'.
            contains = Q(**{f"{trait.column}__icontains": literal(value)})
            return contains if op == "contains" else ~contains
        if op in ("=", "!=") and trait.name in WHOLE_NUMBERS and isinstance(value, float) and not value.is_integer():
            # A count is never 1.5 (an integer column would take 1.5 as 1 and find the ones).
            return Q(pk__in=[]) if op == "=" else Q(**{f"{trait.column}__isnull": False})
        return _compare(trait.column, op, value, text=trait.kind == "text")

    def triggers(self, node):
        return trait_get(node["trait"], "").triggers

    def flips(self, node):
        trait = trait_get(node["trait"], "")
        if trait.kind != "days" or node["op"] in SET_OPS:
            return []
        days = node["value"]
        return [Flip(event, timedelta(days=d), trait.column) for event in trait.triggers for d in (days, days + 1)]

    def describe(self, node):
        trait = trait_get(node["trait"], "")
        if node["op"] in SET_OPS:
            return f"{trait.label} {node['op']}"
        return f"{trait.label} {node['op']} {literal(node.get('value'))}"

    def observe(self, node, *, customer_id, now):
        from personalization.models import Customer, Traits

        trait = trait_get(node["trait"], "")
        if trait.read is not None:
            traits = Traits.objects.filter(customer_id=customer_id).first()
            return f"is {trait.read(traits, now)}" if traits else "no activity yet"
        value = Customer.objects.filter(pk=customer_id).values_list(trait.column, flat=True).first()
        if trait.kind == "days":
            return f"{(now - value).days} days" if value else "never"
        if isinstance(value, Decimal):
            return f"is {value}"  # money, as stored: "is 120.50"
        return f"is {literal(value)}" if value not in (None, "") else "is not set"


# --- events ----------------------------------------------------------------------------

PRODUCT_FIELDS = {"product.category": "product__category", "product.price": "product__price",
                  "product.sku": "product__sku", "product.name": "product__name"}  # fmt: skip
PRODUCT_NUMBERS = {"product.price"}
PROPERTY_OPS = ("=", "!=", ">", ">=", "<", "<=", "contains", "in", *SET_OPS)


def _where_check(filters, path: str) -> None:
    if not isinstance(filters, list):
        raise RuleError(path, "'where' must be a list of {field, op, value} filters.")
    for index, item in enumerate(filters):
        here = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise RuleError(here, "A filter must be an object with field, op and value.")
        name = required(item, "field", here)
        if name not in PRODUCT_FIELDS and (not isinstance(name, str) or not NAME.match(name) or "__" in name):
            raise RuleError(f"{here}.field", f"{name!r} is not a property name or one of {', '.join(PRODUCT_FIELDS)}.")
        op = choice(item, "op", PROPERTY_OPS, here)
        if op not in SET_OPS and "value" not in item:
            raise RuleError(f"{here}.value", "'value' is missing.")
        if op in (">", ">=", "<", "<="):
            number(item["value"], f"{here}.value")
        if op == "in" and not (isinstance(item["value"], list) and item["value"]):
            raise RuleError(f"{here}.value", "'in' needs a non-empty list.")


def _where(filters: list[dict]) -> Q:
    condition = Q()
    for item in filters:
        column = PRODUCT_FIELDS.get(item["field"], f"properties__{item['field']}")
        op, value = item["op"], item.get("value")
        if op == "contains":
            condition &= Q(**{f"{column}__icontains": value})
        elif op in SET_OPS and column.startswith("properties__"):
            # A property sent as JSON null is not set.
            has = Q(properties__has_key=item["field"]) & ~Q(**{f"{column}__exact": None})
            condition &= has if op == "is set" else ~has
        else:
            condition &= _compare(column, op, value, text=item["field"] not in PRODUCT_NUMBERS)
    return condition


class EventCondition:
    """Did E at least / exactly / at most N times, within a window, optionally with
    property filters, and optionally with no F after it ("added to cart, no order since")."""

    label = "Event"

    def check(self, node, path):
        event = required(node, "event", path)
        if not isinstance(event, str):
            raise RuleError(f"{path}.event", "'event' must be an event name such as 'Product Viewed'.")
        op = node.get("op", ">=")
        if op not in COUNT_OPS:
            raise RuleError(f"{path}.op", f"{op!r} is not one of {', '.join(COUNT_OPS)}.")
        count = node.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RuleError(f"{path}.count", f"{count!r} is not a whole number of times (0 or more).")
        within = duration_parse(node["within"], f"{path}.within") if node.get("within") else None
        older = duration_parse(node["older_than"], f"{path}.older_than") if node.get("older_than") else None
        if within and older and older >= within:
            raise RuleError(f"{path}.older_than", "'older_than' must be shorter than 'within', or nothing can match.")
        _where_check(node.get("where", []), f"{path}.where")
        if node.get("without") is not None and not (isinstance(node["without"], str) and node["without"]):
            raise RuleError(f"{path}.without", "'without' must be an event name such as 'Order Completed'.")

    def _events(self, node, *, now, among=None):
        from tracking.models import Event

        events = Event.objects.filter(customer__isnull=False, type=node["event"])

        # For a few customers, the time bounds are hidden from the planner, so that it reads
        # each customer's events by their index rather than every recent event of the type.
        def bound(key: str):
            moment = now - duration_parse(node[key], "")
            return moment if among is None else RuntimeValue(moment, DateTimeField())

        if node.get("within"):
            events = events.filter(occurred_at__gte=bound("within"))
        if node.get("older_than"):
            events = events.filter(occurred_at__lte=bound("older_than"))
        events = events.filter(_where(node.get("where", [])))
        if node.get("without"):
            later = Event.objects.filter(
                customer=OuterRef("customer"), type=node["without"], occurred_at__gt=OuterRef("occurred_at")
            )
            events = events.filter(~Exists(later))
        return events

    def condition(self, node, *, now, among=None):
        op, count = node.get("op", ">="), node.get("count", 1)
        events = self._events(node, now=now, among=among)
        if among is not None:
            events = events.filter(customer_id__any_of=among)
        grouped = events.values("customer").annotate(n=Count("id"))
        # A count that can be zero is the complement of one that cannot: people
        # with no such event at all have no row to count.
        if op == ">=" and count == 0:
            return Q()
        if op == ">=":
            return Q(pk__in=grouped.filter(n__gte=count).values("customer"))
        if op == "<=":
            return ~Q(pk__in=grouped.filter(n__gt=count).values("customer"))
        if count == 0:
            return ~Q(pk__in=grouped.values("customer"))
        return Q(pk__in=grouped.filter(n=count).values("customer"))

    def triggers(self, node):
        return frozenset(filter(None, [node["event"], node.get("without")]))

    def flips(self, node):
        return [Flip(node["event"], duration_parse(node[key], "")) for key in ("within", "older_than") if node.get(key)]

    def describe(self, node):
        op, count = node.get("op", ">="), node.get("count", 1)
        times = {">=": "at least", "=": "exactly", "<=": "at most"}[op]
        text = f"{node['event']} {times} {count} time{'s' if count != 1 else ''}"
        if node.get("within"):
            text += f" in the last {node['within']}"
        if node.get("older_than"):
            text += f", more than {node['older_than']} ago"
        for item in node.get("where", []):
            shown = "" if item["op"] in SET_OPS else f" {literal(item.get('value'))}"
            text += f", where {item['field']} {item['op']}{shown}"
        if node.get("without"):
            text += f", with no {node['without']} after it"
        return text

    def observe(self, node, *, customer_id, now):
        n = self._events(node, now=now).filter(customer_id=customer_id).count()
        return f"{n} time{'s' if n != 1 else ''}"


# --- consent and other segments --------------------------------------------------------


class ConsentCondition:
    """May be emailed (on a topic), tracked or personalized now: asked of consent's
    selectors, the one place where consent is decided."""

    label = "Consent"

    def check(self, node, path):
        from consent.models import Purpose, Topic

        purpose = choice(node, "purpose", Purpose.values, path)
        topic = node.get("topic")
        if topic is not None:
            if purpose != Purpose.EMAIL_MARKETING:
                raise RuleError(f"{path}.topic", "Topics belong to email marketing only.")
            if not Topic.objects.filter(slug=topic, is_active=True).exists():
                raise RuleError(f"{path}.topic", f"{topic!r} is not an active topic.")

    def condition(self, node, *, now, among=None):
        from consent.models import Purpose
        from consent.selectors import customers_consenting, customers_emailable
        from personalization.models import Customer

        everyone = Customer.objects.filter(pk__any_of=among) if among is not None else Customer.objects.all()
        if node["purpose"] == Purpose.EMAIL_MARKETING:
            allowed = customers_emailable(customers=everyone, topic=node.get("topic"))
        else:
            allowed = customers_consenting(customers=everyone, purpose=node["purpose"])
        return Q(pk__in=allowed.values("pk"))

    def triggers(self, node):
        return frozenset({CONSENT_CHANGED, "Identify"})

    def flips(self, node):
        return []  # a pause ends at a known time, but the full refresh is soon enough for that

    def describe(self, node):
        from consent.models import Purpose

        text = f"consented to {Purpose(node['purpose']).label.lower()}"
        return text + (f" ({node['topic']})" if node.get("topic") else "")

    def observe(self, node, *, customer_id, now):
        return ""


class MembershipCondition:
    """A member of another segment now."""

    label = "Segment"

    def check(self, node, path):
        from personalization.models import Segment

        segment_id = required(node, "segment", path)
        if isinstance(segment_id, bool) or not isinstance(segment_id, int):
            raise RuleError(f"{path}.segment", "'segment' must be a segment's id.")
        if not Segment.objects.filter(pk=segment_id).exists():
            raise RuleError(f"{path}.segment", f"There is no segment {segment_id}.")

    def condition(self, node, *, now, among=None):
        from personalization.models import SegmentMembership

        current = SegmentMembership.objects.filter(segment_id=node["segment"], exited_at__isnull=True)
        if among is not None:
            current = current.filter(customer_id__any_of=among)
        return Q(pk__in=current.values("customer"))

    def triggers(self, node):
        return frozenset({"Segment Entered", "Segment Exited"})

    def flips(self, node):
        return []

    def describe(self, node):
        from personalization.models import Segment

        name = Segment.objects.filter(pk=node["segment"]).values_list("name", flat=True).first()
        return f"in segment {literal(name or node['segment'])}"

    def observe(self, node, *, customer_id, now):
        return ""


def conditions_register() -> None:
    rule_kind_register("trait", TraitCondition())
    rule_kind_register("event", EventCondition())
    rule_kind_register("consent", ConsentCondition())
    rule_kind_register("segment", MembershipCondition())
