import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import BaseModel
from personalization.models import Customer, Product


def write_key_new() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class ConsentMode(models.TextChoices):
    LEDGER = "ledger", "Tailor decides from its ledger and the event's consent context"
    UPSTREAM = "upstream", "The site asks before sending: no decision on record counts as yes"


class Source(BaseModel):
    """A site or app that sends events, with its public write key. The key can
    send events and nothing else: it opens no read endpoint."""

    name = models.CharField(max_length=100, unique=True)
    write_key = models.CharField(max_length=64, unique=True, default=write_key_new, editable=False)
    is_active = models.BooleanField(default=True)
    consent_mode = models.CharField(max_length=10, choices=ConsentMode.choices, default=ConsentMode.LEDGER)
    events_per_second = models.PositiveIntegerField(
        default=5000, help_text="Throttle: more events than this in one second get 429 with Retry-After."
    )
    allowed_origins = models.TextField(
        default="*", help_text="Web origins allowed to send from browsers, one per line; * for any."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventType(models.TextChoices):
    """Event names: Segment's calls, its E-commerce spec v2 and its Email spec.
    Shops may send other (custom) names too; they are stored as given."""

    # Segment calls other than track
    IDENTIFY = "Identify"
    PAGE_VIEWED = "Page Viewed"
    ALIAS = "Alias"
    # E-commerce spec v2: browsing, promotions, ordering
    PRODUCTS_SEARCHED = "Products Searched"
    PRODUCT_LIST_VIEWED = "Product List Viewed"
    PRODUCT_LIST_FILTERED = "Product List Filtered"
    PROMOTION_VIEWED = "Promotion Viewed"
    PROMOTION_CLICKED = "Promotion Clicked"
    PRODUCT_CLICKED = "Product Clicked"
    PRODUCT_VIEWED = "Product Viewed"
    PRODUCT_ADDED = "Product Added"
    PRODUCT_REMOVED = "Product Removed"
    CART_VIEWED = "Cart Viewed"
    CHECKOUT_STARTED = "Checkout Started"
    CHECKOUT_STEP_VIEWED = "Checkout Step Viewed"
    CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"
    PAYMENT_INFO_ENTERED = "Payment Info Entered"
    ORDER_UPDATED = "Order Updated"
    ORDER_COMPLETED = "Order Completed"
    ORDER_REFUNDED = "Order Refunded"
    ORDER_CANCELLED = "Order Cancelled"
    # coupons, wishlists, sharing, reviews
    COUPON_ENTERED = "Coupon Entered"
    COUPON_APPLIED = "Coupon Applied"
    COUPON_DENIED = "Coupon Denied"
    COUPON_REMOVED = "Coupon Removed"
    PRODUCT_ADDED_TO_WISHLIST = "Product Added to Wishlist"
    PRODUCT_REMOVED_FROM_WISHLIST = "Product Removed from Wishlist"
    WISHLIST_PRODUCT_ADDED_TO_CART = "Wishlist Product Added to Cart"
    PRODUCT_SHARED = "Product Shared"
    CART_SHARED = "Cart Shared"
    PRODUCT_REVIEWED = "Product Reviewed"
    # Email spec: what happened to the messages Tailor sent
    EMAIL_DELIVERED = "Email Delivered"
    EMAIL_DEFERRED = "Email Deferred"
    EMAIL_BOUNCED = "Email Bounced"
    EMAIL_OPENED = "Email Opened"
    EMAIL_LINK_CLICKED = "Email Link Clicked"
    EMAIL_MARKED_AS_SPAM = "Email Marked as Spam"
    UNSUBSCRIBED = "Unsubscribed"
    # Tailor's own: a customer entered or left a segment (journeys start from these)
    SEGMENT_ENTERED = "Segment Entered"
    SEGMENT_EXITED = "Segment Exited"


# Tailor's own events, about a person rather than done by them: recorded already processed
# (there is nothing to fold), they do not make the person "seen" and are not "any event" to rules.
OWN_EVENT_TYPES = frozenset({EventType.SEGMENT_ENTERED, EventType.SEGMENT_EXITED})


class Event(models.Model):
    """Something a person did, as the shop or the ESP reported it. Append-only."""

    # Unique by a constraint, not unique=True, and the foreign keys below indexed in Meta: on
    # Postgres, Django gives a unique or indexed varchar a second, LIKE-ready index, which no
    # query of events uses and every insert would write.
    message_id = models.CharField(max_length=100, help_text="The sender's id; a repeat is stored once.")
    type = models.CharField(max_length=100, choices=EventType.choices)
    user_id = models.CharField(max_length=255, blank=True)
    anonymous_id = models.CharField(max_length=255, blank=True)
    # Set when the event's person is known; identity resolution fills in the rest.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # Events may name products the catalog has not synced yet, so this is a
    # reference by SKU without a database constraint.
    product = models.ForeignKey(
        Product,
        to_field="sku",
        db_column="product_sku",
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="events",
        db_index=False,
    )
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    # The email an engagement event (opened, clicked, bounced …) is about.
    email_message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False
    )
    properties = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message_id"], name="event_message_id_unique")]
        indexes = [
            # Rules, features and recommendations ask for some people's events of one type in a
            # window: with the type in the key, the scan reads only those rows.
            models.Index(fields=["customer", "type", "occurred_at"], name="event_customer_type_time"),
            models.Index(fields=["type", "occurred_at"], name="event_type_time"),
            models.Index(fields=["anonymous_id"], name="event_anonymous_id", condition=~Q(anonymous_id="")),
            models.Index(fields=["user_id"], name="event_user_id", condition=~Q(user_id="")),
            # Partial: most events name no product, and only engagement events name a message.
            models.Index(fields=["product"], name="event_product", condition=Q(product__isnull=False)),
            models.Index(
                fields=["email_message"], name="event_email_message", condition=Q(email_message__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.occurred_at:%Y-%m-%d %H:%M}"


class WaitingEvent(models.Model):
    """The worker's queue: an event stored and not processed yet, written with it and
    deleted when it is processed. Events stay as they arrived: marking one processed in
    its own row rewrote the whole row and an entry in each of its indexes, half of the
    WAL processing wrote, which every commit of the ingest path then waited to flush."""

    event = models.OneToOneField(Event, primary_key=True, on_delete=models.CASCADE, related_name="waiting")

    def __str__(self) -> str:
        return f"event {self.event_id}, waiting"
