"""The segments Tailor ships, ready to use. Made once (post_migrate); marketers may
change them afterwards, and a segment they deleted is made again on the next migrate."""

from personalization.models import Segment, SegmentKind

BUILT_IN = {
    "cart_abandoners": (
        "Cart abandoners (24 h)",
        "Added to cart in the last 24 hours, at least an hour ago, and ordered nothing since.",
        {"type": "event", "event": "Product Added", "within": "24h", "older_than": "1h", "without": "Order Completed"},
    ),
    "recent_viewers": (
        "Recent viewers (10 min)",
        "Viewed a product in the last 10 minutes.",
        {"type": "event", "event": "Product Viewed", "within": "10m"},
    ),
    "high_value_engaged": (
        "High-value engaged",
        "In the top two fifths by spend and still engaged (engagement score at least 5).",
        {"type": "all", "rules": [
            {"type": "trait", "trait": "rfm_monetary", "op": ">=", "value": 4},
            {"type": "trait", "trait": "engagement_score", "op": ">=", "value": 5},
        ]},
    ),
    "lapsing": (
        "Lapsing customers",
        "Ordered at least twice, but not in the last 60 days (and within the last year).",
        {"type": "all", "rules": [
            {"type": "trait", "trait": "order_count", "op": ">=", "value": 2},
            {"type": "trait", "trait": "days_since_last_order", "op": ">=", "value": 60},
            {"type": "trait", "trait": "days_since_last_order", "op": "<", "value": 365},
        ]},
    ),
    "new_signups": (
        "New sign-ups",
        "First seen in the last 7 days.",
        {"type": "trait", "trait": "days_since_first_seen", "op": "<", "value": 7},
    ),
    "unengaged": (
        "Unengaged",
        "Have an email address, and neither opened nor clicked an email in 90 days (link scanners do not count).",
        {"type": "all", "rules": [
            {"type": "trait", "trait": "email", "op": "is set"},
            {"type": "event", "event": "Email Opened", "op": "=", "count": 0, "within": "90d",
             "where": [{"field": "bot", "op": "is not set"}]},
            {"type": "event", "event": "Email Link Clicked", "op": "=", "count": 0, "within": "90d",
             "where": [{"field": "bot", "op": "is not set"}]},
        ]},
    ),
}  # fmt: skip


def segments_builtin_ensure(**_signal_arguments) -> None:
    """Make the built-in segments that do not exist yet."""
    for key, (name, description, rules) in BUILT_IN.items():
        if not Segment.objects.filter(built_in=key).exists() and not Segment.objects.filter(name=name).exists():
            Segment.objects.create(
                built_in=key, name=name, description=description, rules=rules, kind=SegmentKind.RULES
            )
