"""The customer resource of the management API shows the customer's propensity scores."""

import pytest
from django.utils import timezone

from personalization.models import CustomerScore, ModelKind, ModelStatus, ModelVersion
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def score(customer, kind: str, value: int) -> None:
    version = ModelVersion.objects.create(kind=kind, status=ModelStatus.ACTIVE, metrics={"auc": 0.8})
    CustomerScore.objects.create(customer=customer, kind=kind, score=value, model_version=version,
                                 computed_at=timezone.now())  # fmt: skip


def test_the_customer_shows_each_models_score_by_kind(api_client):
    customer = CustomerFactory()
    score(customer, ModelKind.PURCHASE, 73)
    score(customer, ModelKind.CHURN, 12)

    body = api_client.get(f"/api/v1/customers/{customer.pk}/").json()

    assert body["scores"] == {"purchase_30d": 73, "churn_90d": 12}


def test_a_customer_never_scored_shows_an_empty_dict(api_client):
    customer = CustomerFactory()

    body = api_client.get(f"/api/v1/customers/{customer.pk}/").json()

    assert body["scores"] == {}


def test_only_the_customers_own_scores_are_shown(api_client):
    customer, other = CustomerFactory(), CustomerFactory()
    score(other, ModelKind.PURCHASE, 90)

    body = api_client.get(f"/api/v1/customers/{customer.pk}/").json()

    assert body["scores"] == {}


def test_the_schema_documents_scores_as_integers_by_kind(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    scores = schema["components"]["schemas"]["CustomerDetail"]["properties"]["scores"]
    assert scores["type"] == "object" and scores["additionalProperties"]["type"] == "integer"
