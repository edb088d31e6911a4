"""Writes of the personalization app. Other apps import from here only."""

from personalization.services.customers import (
    CustomerRow,
    ProductRow,
    customer_erase,
    customer_for_email,
    customers_for_emails,
    customers_upsert,
    products_upsert,
)
from personalization.services.identities import EventIds, Resolution, customer_merge, identities_resolve
from personalization.services.profiles import order_value, profiles_update

__all__ = [
    "CustomerRow",
    "EventIds",
    "ProductRow",
    "Resolution",
    "customer_erase",
    "customer_for_email",
    "customer_merge",
    "customers_for_emails",
    "customers_upsert",
    "identities_resolve",
    "order_value",
    "products_upsert",
    "profiles_update",
]
