"""What the rule builder offers: the words a marketer can build rules from."""

from consent.models import Purpose
from consent.selectors import topics_active
from personalization.models import Product, Segment
from personalization.segments.conditions import COUNT_OPS, PRODUCT_FIELDS, PROPERTY_OPS, TRAITS
from tracking.models import EventType
from tracking.selectors import event_types_seen


def rules_vocabulary() -> dict:
    """Traits with their operators, event names (the spec's and those the shop sent),
    consent purposes and topics, segments and product categories."""
    events = sorted(set(EventType.values) | set(event_types_seen()))
    categories = Product.objects.exclude(category="").order_by().values_list("category", flat=True).distinct()
    return {
        "traits": [{"name": t.name, "label": t.label, "kind": t.kind, "ops": list(t.ops)} for t in TRAITS.values()],
        "events": events,
        "count_ops": list(COUNT_OPS),
        "property_ops": list(PROPERTY_OPS),
        "product_fields": list(PRODUCT_FIELDS),
        "purposes": [{"value": value, "label": label} for value, label in Purpose.choices],
        "topics": list(topics_active().values_list("slug", flat=True)),
        "segments": list(Segment.objects.order_by("name").values("id", "name")),
        "categories": sorted(categories),
    }
