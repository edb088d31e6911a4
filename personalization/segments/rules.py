"""Segment rules: a tree of conditions stored as JSON, compiled to one SQL query.

Every node is a JSON object with a "type":

    {"type": "all", "rules": [...]}      every condition holds
    {"type": "any", "rules": [...]}      at least one holds
    {"type": "not", "rule": {...}}       the condition does not hold
    {"type": "trait", "trait": "order_count", "op": ">=", "value": 2}
    {"type": "event", "event": "Product Viewed", "op": ">=", "count": 2, "within": "7d",
     "older_than": "30m", "where": [{"field": "product.category", "op": "=", "value": "Shoes"}],
     "without": "Order Completed"}
    {"type": "consent", "purpose": "email_marketing", "topic": "offers"}
    {"type": "segment", "segment": 12}

The core below knows only all/any/not. Every other kind is a `RuleKind` in a
registry, so a capability adds its own conditions (model scores, say) with
`rule_kind_register` and the compiler does not change. A kind says how to check
a node, compile it to a `Q`, which event types can change its outcome, and when
its outcome can change with no new event at all (time windows).
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db.models import Q

MAX_DEPTH = 8
MAX_NODES = 60
ANY_EVENT = "*"  # a trigger: any event can change the outcome
CONSENT_CHANGED = "$consent"  # a trigger: a consent decision, suppression or pause changed
DURATION = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$")
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class RuleError(Exception):
    """A node that cannot be compiled: `path` points at it, as in "rules[1].rule.count"."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


@dataclass(frozen=True)
class Flip:
    """The outcome can change `after` an event of this type, with no new event; or, when
    `column` names a moment of the customer's ("traits__last_order_at"), `after` that
    moment, which such an event may have moved."""

    event_type: str
    after: timedelta
    column: str = ""


@dataclass(frozen=True)
class Explanation:
    """Why a node holds or not for one customer: for the "why" view."""

    node: dict
    text: str
    holds: bool
    observed: str = ""
    children: tuple["Explanation", ...] = field(default_factory=tuple)


class RuleKind(Protocol):
    label: str

    def check(self, node: dict, path: str) -> None: ...

    def condition(self, node: dict, *, now: datetime, among: list[int] | None = None) -> Q:
        """`among`, when given, are the only customers asked about: a kind may narrow its
        subqueries to them, so that re-checking a few people costs a few people's rows."""

    def triggers(self, node: dict) -> frozenset[str]: ...

    def flips(self, node: dict) -> list[Flip]: ...

    def describe(self, node: dict) -> str: ...

    def observe(self, node: dict, *, customer_id: int, now: datetime) -> str: ...


_kinds: dict[str, RuleKind] = {}
COMBINATORS = {"all": "all of", "any": "any of", "not": "not"}


def rule_kind_register(name: str, kind: RuleKind) -> None:
    """Add a kind of condition to the rule vocabulary (from an AppConfig.ready)."""
    if name in COMBINATORS:
        raise ValueError(f"{name!r} is a combinator, not a condition kind")
    _kinds[name] = kind


def rule_kinds() -> dict[str, RuleKind]:
    return dict(_kinds)


# --- helpers for kinds ---------------------------------------------------------------


def duration_parse(value, path: str) -> timedelta:
    """ "30m", "24h", "7d", "2w" -> timedelta; anything else is refused with the accepted forms."""
    match = DURATION.match(value) if isinstance(value, str) else None
    if not match or int(match[1]) == 0:
        raise RuleError(path, f"{value!r} is not a duration: write a number and a unit, e.g. 30m, 24h, 7d or 2w.")
    return timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})


def required(node: dict, key: str, path: str):
    if node.get(key) in (None, ""):
        raise RuleError(f"{path}.{key}", f"'{key}' is missing.")
    return node[key]


def choice(node: dict, key: str, allowed, path: str):
    value = required(node, key, path)
    if value not in allowed:
        raise RuleError(f"{path}.{key}", f"{value!r} is not one of: {', '.join(map(str, allowed))}.")
    return value


def number(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(path, f"{value!r} is not a number.")
    return value


def literal(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- the core: check, compile, triggers, flips, describe ------------------------------


def rules_check(rules: dict) -> None:
    """Refuse a tree that cannot be compiled, naming the failing node."""
    count = 0

    def walk(node, path: str, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise RuleError(path, f"A segment can have at most {MAX_NODES} conditions.")
        if depth > MAX_DEPTH:
            raise RuleError(path, f"Conditions can be nested at most {MAX_DEPTH} deep.")
        if not isinstance(node, dict):
            raise RuleError(path, "A condition must be a JSON object with a 'type'.")
        kind = node.get("type")
        if kind in ("all", "any"):
            children = node.get("rules")
            if not isinstance(children, list) or not children:
                raise RuleError(f"{path}.rules", f"'{kind}' needs a non-empty list of conditions in 'rules'.")
            for index, child in enumerate(children):
                walk(child, f"{path}.rules[{index}]", depth + 1)
        elif kind == "not":
            walk(node.get("rule"), f"{path}.rule", depth + 1)
        elif kind in _kinds:
            _kinds[kind].check(node, path)
        else:
            known = ", ".join([*COMBINATORS, *_kinds])
            raise RuleError(f"{path}.type", f"{kind!r} is not a kind of condition: use one of {known}.")

    walk(rules, "rules", 1)


def rules_condition(rules: dict, *, now: datetime, among: list[int] | None = None) -> Q:
    """The tree as one filter on customers (of `among` only, when given). The tree must
    have passed rules_check."""
    from personalization.models import Customer

    kind = rules["type"]
    if kind in ("all", "any"):
        children = (rules_condition(child, now=now, among=among) for child in rules["rules"])
        return _combine(children, Q.__and__ if kind == "all" else Q.__or__)
    if kind == "not":
        # By primary key, so that a condition that is unknown (NULL) for someone
        # counts as not holding and NOT gives them back: an exact complement.
        asked = Customer.objects.filter(pk__any_of=among) if among is not None else Customer.objects.all()
        inner = asked.filter(rules_condition(rules["rule"], now=now, among=among)).values("pk")
        return ~Q(pk__in=inner)
    return _kinds[kind].condition(rules, now=now, among=among)


def _combine(conditions, operator) -> Q:
    conditions = list(conditions)
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = operator(combined, condition)
    return combined


def leaves(rules: dict):
    """Every condition of the tree that is not a combinator."""
    if rules["type"] in ("all", "any"):
        for child in rules["rules"]:
            yield from leaves(child)
    elif rules["type"] == "not":
        yield from leaves(rules["rule"])
    else:
        yield rules


def rules_triggers(rules: dict) -> frozenset[str]:
    """The event types (or ANY_EVENT, CONSENT_CHANGED) after which the outcome can change."""
    return frozenset().union(*(_kinds[leaf["type"]].triggers(leaf) for leaf in leaves(rules)))


def rules_flips(rules: dict) -> list[Flip]:
    return [flip for leaf in leaves(rules) for flip in _kinds[leaf["type"]].flips(leaf)]


def rules_describe(rules: dict) -> str:
    """The tree in words, for lists and the admin."""
    kind = rules["type"]
    if kind in ("all", "any"):
        parts = [rules_describe(child) for child in rules["rules"]]
        return parts[0] if len(parts) == 1 else f" {'and' if kind == 'all' else 'or'} ".join(f"({p})" for p in parts)
    if kind == "not":
        return f"not ({rules_describe(rules['rule'])})"
    return _kinds[kind].describe(rules)


def rules_explain(rules: dict, *, customer_id: int, now: datetime) -> Explanation:
    """Which conditions hold for this customer and which fail, with what was observed."""
    from personalization.models import Customer

    kind = rules["type"]
    if kind in ("all", "any"):
        children = tuple(rules_explain(child, customer_id=customer_id, now=now) for child in rules["rules"])
        test = all if kind == "all" else any
        label = "All of these hold" if kind == "all" else "At least one of these holds"
        return Explanation(rules, label, test(c.holds for c in children), children=children)
    if kind == "not":
        child = rules_explain(rules["rule"], customer_id=customer_id, now=now)
        return Explanation(rules, "This does not hold", not child.holds, children=(child,))
    holds = Customer.objects.filter(pk=customer_id).filter(rules_condition(rules, now=now)).exists()
    observed = _kinds[kind].observe(rules, customer_id=customer_id, now=now)
    return Explanation(rules, _kinds[kind].describe(rules), holds, observed)


def segment_references(node, path: str = "rules"):
    """(path, node) of every "segment" condition of a tree; tolerant of broken trees, as
    it also reads rules stored before they were checked."""
    if not isinstance(node, dict):
        return
    if node.get("type") in ("all", "any"):
        for index, child in enumerate(node.get("rules") or []):
            yield from segment_references(child, f"{path}.rules[{index}]")
    elif node.get("type") == "not":
        yield from segment_references(node.get("rule"), f"{path}.rule")
    elif node.get("type") == "segment":
        yield path, node
