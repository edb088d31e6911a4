"""The "score" condition for segment rules, added to the rule vocabulary from here (the
compiler's core does not change): {"type": "score", "model": "purchase_30d", "op": ">=", "value": 70}."""

from django.db.models import Q

from personalization.models import CustomerScore, ModelKind
from personalization.propensity.training import SCORE_TRIGGERS
from personalization.segments.rules import RuleError, choice, number, rule_kind_register

OPS = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}
SCORED = [ModelKind.PURCHASE, ModelKind.CHURN]


class ScoreCondition:
    label = "Score"

    def check(self, node, path):
        choice(node, "model", [str(k) for k in SCORED], path)
        choice(node, "op", list(OPS), path)
        value = number(node.get("value"), f"{path}.value")
        if not 0 <= value <= 100:
            raise RuleError(f"{path}.value", "Scores go from 0 to 100.")

    def condition(self, node, *, now, among=None):
        scores = CustomerScore.objects.filter(kind=node["model"], **{f"score__{OPS[node['op']]}": node["value"]})
        if among is not None:
            scores = scores.filter(customer_id__any_of=among)
        return Q(pk__in=scores.values("customer"))

    def triggers(self, node):
        # The events after which the customer is re-scored (before segments are re-checked).
        return SCORE_TRIGGERS

    def flips(self, node):
        return []

    def describe(self, node):
        return f"{ModelKind(node['model']).label} score {node['op']} {node['value']}"

    def observe(self, node, *, customer_id, now):
        score = CustomerScore.objects.filter(customer_id=customer_id, kind=node["model"]).first()
        return f"is {score.score}" if score else "not scored yet"


def score_condition_register() -> None:
    rule_kind_register("score", ScoreCondition())
