import uuid

import pytest

from personalization.models import Segment
from personalization.segments.services import segment_save


@pytest.fixture
def segment(django_capture_on_commit_callbacks):
    """Make a segment of these rules, saved as the admin saves it (its first refresh runs)."""

    def make(rules: dict) -> Segment:
        with django_capture_on_commit_callbacks(execute=True):
            return segment_save(name=f"Segment {uuid.uuid4().hex[:8]}", rules=rules)

    return make
