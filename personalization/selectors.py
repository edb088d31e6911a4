"""Reads of the personalization app."""

from django.db.models import QuerySet

from core.errors import NotFound
from core.normalize import email_normalize
from personalization.models import Customer


def customer_list(*, email: str = "", external_id: str = "") -> QuerySet[Customer]:
    customers = Customer.objects.order_by("-id")
    if email:
        customers = customers.filter(email=email_normalize(email))
    if external_id:
        customers = customers.filter(external_id=external_id)
    return customers


def customer_get(*, customer_id: int) -> Customer:
    customer = Customer.objects.prefetch_related("identities").filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"There is no customer with id {customer_id}.")
    return customer


def customers_exist() -> bool:
    return Customer.objects.exists()
