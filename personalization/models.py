import functools
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.models import BaseModel


@functools.cache
def _timezone_names() -> frozenset[str]:
    # available_timezones() walks the tz database on disk at every call.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _timezone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name such as 'Europe/Paris'.")


class Customer(BaseModel):
    """A person the shop knows: one profile, however many ids and devices they used."""

    external_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True, help_text="The shop's own id (Segment's userId)."
    )
    email = models.EmailField(blank=True, db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    locale = models.CharField(max_length=35, default="en-US", help_text="BCP 47 tag for formatting money and dates.")
    attributes = models.JSONField(default=dict, blank=True, help_text="Traits sent by the shop (identify calls).")
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A profile merged into another (alias) stays as a tombstone: its consent
    # records are evidence and cannot move, so they stay here and the survivor
    # gets copies.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_profiles"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.email or self.external_id or f"customer #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class IdentityKind(models.TextChoices):
    USER_ID = "user_id", "User id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous id"


class Identity(models.Model):
    """An id under which a customer was seen. Anonymous ids and aliases all
    resolve to one customer, so that history follows the person."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    value = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="identity_unique_kind_value")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class Product(BaseModel):
    sku = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    url = models.URLField(max_length=500, blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    in_stock = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Traits(models.Model):
    """What Tailor has learned about a customer from their events, kept current as
    events are processed (tracking) and recomputed in full on a schedule."""

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.CASCADE, related_name="traits")
    event_counts = models.JSONField(default=dict, blank=True, help_text="Events of each type.")
    order_count = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    last_viewed = models.JSONField(default=list, blank=True, help_text="Products viewed, newest first.")
    cart = models.JSONField(default=list, blank=True, help_text="What is in the cart now.")
    cart_updated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "traits"

    def __str__(self) -> str:
        return f"traits of customer {self.customer_id}"
