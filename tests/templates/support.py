"""Templates saved the way the admin and the API save them (template_save, so validated and
versioned), rendered for real customers, and what a test reads back of a rendered email."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns.models import TemplateVersion
from campaigns.templating.selectors import RenderedEmail, template_preview
from campaigns.templating.services import template_save
from personalization.models import Customer, CustomerScore, ModelKind, ModelStatus, ModelVersion, Product
from tests.factories import CustomerFactory, EmailTemplateFactory, EventFactory, ProductFactory
from tests.recommendations.support import personalization_grant
from tracking.models import Event, EventType

# 08:00 UTC: 09:00 in Paris, where CustomerFactory's customers live.
MORNING = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ADDRESS = "1 Example Street, 00000 Example City"  # settings.SHOP_POSTAL_ADDRESS in the test run
SHOP_URL = "https://shop.example.com"  # settings.SHOP_URL
FOOTER = '<p><a href="{{ links.unsubscribe }}">Unsubscribe</a> {{ shop.address }}</p>'


def page(content: str, *, head: str = "", footer: str = FOOTER) -> str:
    """An email whose content is in <main>, with what marketing email needs in its footer."""
    return f"<html><head>{head}</head><body><main>{content}</main>{footer}</body></html>"


def version_of(content: str = "", *, html: str | None = None, **fields) -> TemplateVersion:
    """A new template with this content (or whole HTML), saved: its first version."""
    template = EmailTemplateFactory.build(html=page(content) if html is None else html, **fields)
    return template_save(template=template)


def rendered_for(version: TemplateVersion, customer: Customer, *, now: datetime = MORNING) -> RenderedEmail:
    return template_preview(version=version, customer=customer, now=now)


def main(rendered: RenderedEmail) -> str:
    """The content of the rendered HTML's <main>, whitespace collapsed."""
    found = re.search(r"<main>(.*?)</main>", rendered.html, re.S)
    assert found, rendered.error or rendered.html
    return " ".join(found[1].split())


def consenting(**fields) -> Customer:
    """A customer whose consent allows personalization."""
    customer = CustomerFactory(**fields)
    personalization_grant(customer)
    return customer


def catalog(*rows: tuple[str, str, str, str]) -> list[Product]:
    """Products from (sku, name, category, price), each with its page at /p/<sku>."""
    return [
        ProductFactory(sku=sku, name=name, category=category, price=Decimal(price), url=f"{SHOP_URL}/p/{sku}")
        for sku, name, category, price in rows
    ]


def boots_and_cap() -> None:
    """Boots ($120.00) and a cap ($25.00) that other shoppers viewed: popular, in that order."""
    catalog(("BOOT", "Boots", "Shoes", "120.00"), ("CAP", "Cap", "Hats", "25.00"))
    viewed({"BOOT": 2, "CAP": 1})


def products_in_text(rendered: RenderedEmail) -> list[str]:
    """The names of the products a text part links to, in order."""
    return re.findall(rf"^(\S+) \({re.escape(SHOP_URL)}/p/", rendered.text, re.M)


def viewed(counts: dict[str, int], *, ago: timedelta = timedelta(days=3)) -> None:
    """Other shoppers viewed each product `count` times, `ago`: what popular and trending count."""
    crowd, moment = CustomerFactory(), timezone.now() - ago
    Event.objects.bulk_create(
        EventFactory.build(customer=crowd, type=EventType.PRODUCT_VIEWED, product_id=sku, occurred_at=moment,
                           message_id=str(uuid.uuid4()))
        for sku, count in counts.items()
        for _ in range(count)
    )  # fmt: skip


def ordered(customer: Customer, sku: str) -> None:
    """The customer bought the product (an Order Completed event naming it)."""
    EventFactory(customer=customer, type=EventType.ORDER_COMPLETED, product_id=sku,
                 occurred_at=timezone.now() - timedelta(days=1))  # fmt: skip


def scored(customer: Customer, score: int, *, kind: str = ModelKind.PURCHASE) -> CustomerScore:
    """A propensity score for the customer, from an active model of that kind."""
    model = ModelVersion.objects.filter(kind=kind, status=ModelStatus.ACTIVE).first()
    model = model or ModelVersion.objects.create(kind=kind, status=ModelStatus.ACTIVE)
    return CustomerScore.objects.create(customer=customer, kind=kind, score=score, model_version=model,
                                        computed_at=timezone.now())  # fmt: skip
