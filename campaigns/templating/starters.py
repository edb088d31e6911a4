"""Starter content a new shop (and the demo store) begins with: a header, a footer and
a product card, and two templates written from the seed guides ("if recommendations,
show them, else popular products"; "thank you for your purchase" or "discover what is
trending"; an offer for high-value customers; a win-back by favorite category)."""

from pathlib import Path

from campaigns.models import ContentBlock, EmailTemplate, MessageKind
from campaigns.templating.services import block_save, template_save

SOURCES = Path(__file__).with_name("starters")
BLOCKS = {
    "header": "The shop's name, linking to its site.",
    "footer": "Why they get this, preferences, unsubscribe and the postal address (required in marketing).",
    "product-card": "A product with image, name, price and why it was recommended; render with product: p.",
}
TEMPLATES = [
    {
        "name": "Picked for you",
        "file": "picked-for-you.html",
        "subject": "{% if customer.first_name != blank %}{{ customer.first_name }}, picked{% else %}Picked{% endif %} "
        "for you this week",
        "preheader": "{% if customer.traits.order_count > 0 %}More like what you bought{% else %}"
        "Trending at {{ shop.name }}{% endif %}",
    },
    {
        "name": "We miss you",
        "file": "we-miss-you.html",
        "subject": "{{ customer.first_name | default: 'Hello' }}, it has been a while",
        "preheader": "New arrivals picked for you",
    },
]


def starter_templates_install(*, actor: str = "starter content") -> int:
    """Add the starter blocks and templates that are not there yet (by name); return how many were added."""
    added = 0
    for name, description in BLOCKS.items():
        if not ContentBlock.objects.filter(name=name).exists():
            source = (SOURCES / f"{name}.liquid").read_text()
            block_save(block=ContentBlock(name=name, description=description, source=source))
            added += 1
    for starter in TEMPLATES:
        if not EmailTemplate.objects.filter(name=starter["name"]).exists():
            template = EmailTemplate(
                name=starter["name"], kind=MessageKind.MARKETING, subject=starter["subject"],
                preheader=starter["preheader"], html=(SOURCES / starter["file"]).read_text(),
            )  # fmt: skip
            template_save(template=template, actor=actor)
            added += 1
    return added
