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
    # Not indexed: it changes with nearly every event, and an indexed column changed makes
    # each profile update rewrite every index of the row (no HOT update; see migration 0006).
    last_seen_at = models.DateTimeField(null=True, blank=True)
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
    average_order_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # RFM: 1 (lowest) to 5 (best) against the whole customer base, from the last full
    # recompute's quintiles; empty for people who never ordered.
    rfm_recency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(null=True, blank=True)
    # The engagement score halves every 14 days: stored as log2 of its value at a fixed
    # moment (services/traits.py), so that it decays with no write and rules compare it
    # with a plain number. engagement_at is the last activity it counts.
    engagement_log = models.FloatField(null=True, blank=True)
    engagement_at = models.DateTimeField(null=True, blank=True)
    category_weights = models.JSONField(default=dict, blank=True, help_text="Interest per product category.")
    favorite_categories = models.JSONField(default=list, blank=True, help_text="Top categories, strongest first.")
    email_opens_30d = models.PositiveIntegerField(default=0)
    email_clicks_30d = models.PositiveIntegerField(default=0)
    site_visits_30d = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True, help_text="Last full recompute from all events.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "traits"
        indexes = [models.Index(fields=["last_order_at"], name="traits_last_order")]

    def __str__(self) -> str:
        return f"traits of customer {self.customer_id}"

    def engagement_score(self, now) -> float:
        from personalization.services.traits import engagement_now

        return round(engagement_now(self.engagement_log, now), 2)


class TraitsRun(models.Model):
    """A full recompute of everyone's traits, with the RFM quintiles it found: the
    incremental updates between runs score new orders against these."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(null=True)
    customers = models.PositiveIntegerField(default=0)
    rfm_breakpoints = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"traits run of {self.started_at:%Y-%m-%d %H:%M}"


# --- segments ---------------------------------------------------------------------


class SegmentKind(models.TextChoices):
    RULES = "rules", "Rules"
    CLUSTER = "cluster", "Cluster"


class RefreshStatus(models.TextChoices):
    NEVER = "never", "Never refreshed"
    RUNNING = "running", "Refreshing"
    FRESH = "fresh", "Fresh"
    FAILED = "failed", "Failed"


class Segment(BaseModel):
    """A group of customers: by rules (a JSON tree, see personalization/segments/rules.py)
    or by a clustering run. Membership follows events in real time."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.RULES)
    rules = models.JSONField(default=dict, blank=True)
    # Set on the segments Tailor ships, so that they are made once and can be found again.
    built_in = models.CharField(max_length=40, unique=True, null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive segments are neither refreshed nor updated.")
    clustering = models.ForeignKey(
        "Clustering", null=True, blank=True, on_delete=models.CASCADE, related_name="segments", editable=False
    )
    centroid = models.JSONField(default=dict, blank=True, editable=False)
    member_count = models.PositiveIntegerField(default=0, editable=False)
    refresh_status = models.CharField(
        max_length=10, choices=RefreshStatus.choices, default=RefreshStatus.NEVER, editable=False
    )
    refresh_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Last successful refresh.")
    refresh_seconds = models.FloatField(null=True, blank=True, editable=False)
    refresh_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """One stay of a customer in a segment; a customer who leaves and comes back has two."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_memberships")
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"], condition=Q(exited_at__isnull=True), name="membership_one_current"
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True) | Q(exited_at__gte=models.F("entered_at")),
                name="membership_exit_after_entry",
            ),
        ]
        indexes = [models.Index(fields=["customer"], condition=Q(exited_at__isnull=True), name="membership_current")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in {self.segment_id}"


class SegmentCheck(models.Model):
    """A moment when a time-window rule can flip for a customer without any new
    event ("added to cart 30 minutes ago and no order since"): re-checked then."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="checks")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer", "due_at"], name="segment_check_unique"),
        ]

    def __str__(self) -> str:
        return f"check customer {self.customer_id} in segment {self.segment_id} at {self.due_at}"


class Clustering(BaseModel):
    """A K-means run over RFM and engagement features; each cluster is a segment.
    The scaler and centroids are kept so that new activity is assigned in real time."""

    clusters = models.PositiveSmallIntegerField(default=4)
    features = models.JSONField(default=list, editable=False)
    scaler = models.JSONField(default=dict, editable=False, help_text="Mean and scale of each feature.")
    customers = models.PositiveIntegerField(default=0, editable=False)
    inertia = models.FloatField(null=True, blank=True, editable=False)
    ran_at = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_status = models.CharField(
        max_length=10, choices=RefreshStatus.choices, default=RefreshStatus.NEVER, editable=False
    )
    error = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name_plural = "clusterings"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.clusters} clusters"


# --- models and their registry -------------------------------------------------------------


class ModelKind(models.TextChoices):
    RECOMMENDER = "recommender", "Recommendations (ALS)"
    PURCHASE = "purchase_30d", "Purchase in the next 30 days (XGBoost)"
    CHURN = "churn_90d", "Churn risk: no order in 90 days (XGBoost)"


class ModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    ACTIVE = "active", "Active"
    KEPT = "kept", "Kept, not activated"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class ModelVersion(BaseModel):
    """One trained model, with what it was trained on, how it did on held-out data against
    the baseline, and its artifact. Exactly one version per kind is active."""

    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.TRAINING)
    hyperparameters = models.JSONField(default=dict, blank=True)
    data_window = models.JSONField(default=dict, blank=True, help_text="What it learned from: dates and sizes.")
    metrics = models.JSONField(default=dict, blank=True, help_text="On held-out data.")
    baseline_metrics = models.JSONField(default=dict, blank=True, help_text="The baseline, on the same data.")
    progress = models.JSONField(default=dict, blank=True, help_text="Where training is, while it runs.")
    decision = models.TextField(blank=True, help_text="Why it was activated or not.")
    train_seconds = models.FloatField(null=True, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    # In Postgres, so that every worker and web process reads the same model after a restart.
    artifact = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status="active"), name="model_version_one_active_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class CustomerScore(models.Model):
    """A propensity model's score for a customer, 0-100, usable in segment rules and templates."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="scores")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    score = models.PositiveSmallIntegerField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind"], name="customer_score_one_per_kind"),
            models.CheckConstraint(condition=Q(score__lte=100), name="customer_score_at_most_100"),
        ]
        indexes = [models.Index(fields=["kind", "score"], name="customer_score_kind_score")]

    def __str__(self) -> str:
        return f"{self.kind} {self.score} for customer {self.customer_id}"
