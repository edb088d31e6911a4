from decimal import Decimal

import pytest
from django.db import IntegrityError

from personalization.models import Identity, IdentityKind
from tests.factories import CustomerFactory, EventFactory, IdentityFactory, ProductFactory
from tracking.models import Event

pytestmark = pytest.mark.django_db


def test_two_customers_cannot_share_an_external_id():
    CustomerFactory(external_id="u-1")
    with pytest.raises(IntegrityError):
        CustomerFactory(external_id="u-1")


def test_customers_without_an_external_id_can_coexist():
    CustomerFactory(external_id=None)
    CustomerFactory(external_id=None)


def test_an_identity_belongs_to_one_customer_only():
    IdentityFactory(kind=IdentityKind.ANONYMOUS_ID, value="anon-1")
    with pytest.raises(IntegrityError):
        IdentityFactory(kind=IdentityKind.ANONYMOUS_ID, value="anon-1")


def test_the_same_value_may_be_a_user_id_and_an_anonymous_id():
    IdentityFactory(kind=IdentityKind.ANONYMOUS_ID, value="shared")
    IdentityFactory(kind=IdentityKind.USER_ID, value="shared")


def test_two_products_cannot_share_a_sku():
    ProductFactory(sku="SKU-1")
    with pytest.raises(IntegrityError):
        ProductFactory(sku="SKU-1")


def test_a_product_price_cannot_be_negative():
    with pytest.raises(IntegrityError):
        ProductFactory(price=Decimal("-1.00"))


def test_an_event_message_id_is_stored_once():
    EventFactory(message_id="m-1")
    with pytest.raises(IntegrityError):
        EventFactory(message_id="m-1")


def test_an_event_may_name_a_product_the_catalog_does_not_have_yet():
    event = EventFactory(product_id="SKU-NOT-SYNCED")
    assert Event.objects.get(pk=event.pk).product_id == "SKU-NOT-SYNCED"


def test_deleting_a_customer_deletes_their_identities_and_events():
    event = EventFactory()
    IdentityFactory(customer=event.customer)
    event.customer.delete()
    assert not Event.objects.exists()
    assert not Identity.objects.exists()
