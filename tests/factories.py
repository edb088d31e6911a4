"""factory_boy factories for every app's models, shared by the whole suite."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import factory

from personalization.models import Customer, Identity, IdentityKind, Product
from tracking.models import Event, EventType


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    timezone = "Europe/Paris"


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    customer = factory.SubFactory(CustomerFactory)
    kind = IdentityKind.ANONYMOUS_ID
    value = factory.LazyFunction(lambda: str(uuid.uuid4()))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("word")
    category = "Shoes"
    price = Decimal("49.90")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    message_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    type = EventType.PRODUCT_VIEWED
    customer = factory.SubFactory(CustomerFactory)
    user_id = factory.SelfAttribute("customer.external_id")
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


class TraitsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "personalization.Traits"

    customer = factory.SubFactory(CustomerFactory)


class SegmentFactory(factory.django.DjangoModelFactory):
    """A rule-based segment saved as is: no validation and no first refresh (segment_save does both)."""

    class Meta:
        model = "personalization.Segment"

    name = factory.Sequence(lambda n: f"Test segment {n}")
    rules = factory.LazyFunction(lambda: {"type": "event", "event": "Product Viewed"})


class ClusteringFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "personalization.Clustering"

    clusters = 3


class SegmentMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "personalization.SegmentMembership"

    segment = factory.SubFactory(SegmentFactory)
    customer = factory.SubFactory(CustomerFactory)
    entered_at = factory.LazyFunction(lambda: datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


class ContentBlockFactory(factory.django.DjangoModelFactory):
    """A content block saved as is (block_save checks that it parses)."""

    class Meta:
        model = "campaigns.ContentBlock"

    name = factory.Sequence(lambda n: f"block-{n}")
    source = "<p>A block</p>"


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    """A marketing template's draft that passes validation; template_save makes its versions."""

    class Meta:
        model = "campaigns.EmailTemplate"

    name = factory.Sequence(lambda n: f"Template {n}")
    kind = "marketing"
    subject = "News from {{ shop.name }}"
    html = (
        "<html><body><p>Hello {{ customer.first_name }}</p>"
        '<p><a href="{{ links.unsubscribe }}">Unsubscribe</a> {{ shop.address }}</p></body></html>'
    )


def _marketing_version():
    """A new marketing template, saved through template_save: its first version."""
    from campaigns.templating.services import template_save

    return template_save(template=EmailTemplateFactory.build())


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign of marketing email in general (no topic); `segments=[...]` sets its audience."""

    class Meta:
        model = "campaigns.Campaign"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Campaign {n}")

    @factory.post_generation
    def segments(self, create, extracted, **kwargs):
        if create and extracted:
            self.segments.set(extracted)


class VariantFactory(factory.django.DjangoModelFactory):
    """A variant of a campaign, sending a new marketing template's first version."""

    class Meta:
        model = "campaigns.Variant"

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"variant-{n}")
    template_version = factory.LazyFunction(_marketing_version)
