import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.models import Customer
from tests.propensity.support import purchase_model_activate
from tracking.services import EventDraft, events_process, events_store


@pytest.fixture
def track(django_capture_on_commit_callbacks):
    """Store an event of a customer and process it, as the worker would (hooks run on commit)."""

    def track(customer: Customer, event_type: str, *, ago: timedelta = timedelta(0), sku: str = "",
              **properties) -> None:  # fmt: skip
        draft = EventDraft(message_id=str(uuid.uuid4()), type=event_type, occurred_at=timezone.now() - ago,
                           user_id=customer.external_id, product_sku=sku, properties=properties)  # fmt: skip
        assert events_store(drafts=[draft]).stored == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert events_process() >= 1

    return track


@pytest.fixture
def purchase_model(db):
    """An active purchase model (fitted once per run on a generated order log)."""
    return purchase_model_activate()
