from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.append_only import AppendOnlyModel
from core.models import BaseModel
from personalization.models import Customer


class Purpose(models.TextChoices):
    """What a person may say yes or no to."""

    EMAIL_MARKETING = "email_marketing", "Email marketing"
    TRACKING = "tracking", "Behavioral tracking"
    PERSONALIZATION = "personalization", "Personalization"


class Decision(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentSource(models.TextChoices):
    """Where a decision was made; part of the proof."""

    SIGNUP_FORM = "signup_form", "Signup form"
    API = "api", "API"
    IMPORT = "import", "Import"
    ADMIN = "admin", "Admin"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in confirmation"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
    PREFERENCE_CENTER = "preference_center", "Preference center"
    ESP_COMPLAINT = "esp_complaint", "ESP complaint"
    ESP_UNSUBSCRIBE = "esp_unsubscribe", "ESP unsubscribe"
    GPC = "gpc", "Global Privacy Control signal"
    ERASURE = "erasure", "Erasure request"
    PROFILE_MERGE = "profile_merge", "Carried over when two profiles were merged"


class Frequency(models.TextChoices):
    ANY = "any", "Whenever there is news"
    DAILY = "daily", "At most once a day"
    WEEKLY = "weekly", "At most once a week"
    MONTHLY = "monthly", "At most once a month"


class Topic(BaseModel):
    """A kind of marketing email people can choose on its own (newsletter, offers …)."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive topics are neither offered nor sent.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConsentRecord(AppendOnlyModel):
    """One decision a person made about one purpose (and topic), with its proof.

    The ledger is append-only: the current state is the latest record per
    purpose and topic (consent.selectors). Erasure keeps withdrawals, stripped
    of personal data and tied to `subject_hash` only."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="consent_records"
    )
    subject_hash = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="SHA-256 of the normalized address, kept after erasure."
    )
    purpose = models.CharField(max_length=30, choices=Purpose.choices)
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    policy_version = models.CharField(max_length=50, blank=True)
    wording = models.TextField(blank=True, help_text="The words the person saw when deciding.")
    proof = models.JSONField(default=dict, blank=True, help_text="IP address, user agent, form or page.")
    actor = models.CharField(max_length=200, help_text="Who recorded it: the person, a staff member, a program.")
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["customer", "purpose", "topic", "recorded_at"], name="consent_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(topic__isnull=True) | Q(purpose="email_marketing"), name="consent_topic_only_for_email"
            )
        ]
        permissions = [("import_consents", "Can import consents from a CSV file")]

    def __str__(self) -> str:
        scope = f"{self.get_purpose_display()}" + (f" / {self.topic}" if self.topic_id else "")
        return f"{scope}: {self.get_decision_display()} ({self.get_source_display()})"


class PreferenceChange(AppendOnlyModel):
    """A change of how often a person wants marketing email, or a pause. Part
    of the ledger: the current preference is the latest change."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="preference_changes"
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.ANY)
    paused_until = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    proof = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["customer", "recorded_at"], name="preference_latest")]

    def __str__(self) -> str:
        paused = f", paused until {self.paused_until:%Y-%m-%d}" if self.paused_until else ""
        return f"{self.get_frequency_display()}{paused}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed from all marketing"
    MANUAL = "manual", "Added by staff"
    ERASURE = "erasure", "Erased at the person's request"


# A fresh, confirmed opt-in overrides these; bounces, complaints and staff
# decisions are lifted only by staff.
SUPPRESSIONS_LIFTED_BY_OPT_IN = (SuppressionReason.UNSUBSCRIBE, SuppressionReason.ERASURE)


class Suppression(BaseModel):
    """An address that must not receive marketing email. Keyed by a hash of the
    normalized address so that it survives erasure and catches re-imports."""

    address_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.address_hash[:12]}… ({self.get_reason_display()})"


class OptInRequest(BaseModel):
    """A subscription waiting for its double opt-in confirmation."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="opt_in_requests")
    topics = models.ManyToManyField(Topic, blank=True, related_name="+")
    policy_version = models.CharField(max_length=50, blank=True)
    wording = models.TextField(blank=True)
    proof = models.JSONField(default=dict, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "opt-in request"

    def __str__(self) -> str:
        return f"opt-in #{self.pk} ({'confirmed' if self.confirmed_at else 'waiting'})"


class RequestKind(models.TextChoices):
    EXPORT = "export", "Export (access)"
    ERASURE = "erasure", "Erasure"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class DataSubjectRequest(BaseModel):
    """A person's request to get their data or to be forgotten, and its outcome."""

    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="data_requests"
    )
    subject_hash = models.CharField(max_length=64, db_index=True, help_text="Identifies the person after erasure.")
    requested_by = models.CharField(max_length=200)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    document = models.JSONField(null=True, blank=True, help_text="The export, for export requests.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "data subject request"
        permissions = [
            ("export_subject_data", "Can export a person's data"),
            ("erase_subject", "Can erase a person"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_status_display()})"


class RequestLogEntry(models.Model):
    """The audit trail of a data subject request. Says what happened, never whose data."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=200)
    message = models.TextField()

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "request log entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.message}"


class ErasedIdentifier(models.Model):
    """A hash of an id an erased person used, so that late events for it are
    not turned back into a profile and models never train on it."""

    class Kind(models.TextChoices):
        EMAIL = "email"
        USER_ID = "user_id"
        ANONYMOUS_ID = "anonymous_id"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    value_hash = models.CharField(max_length=64)
    erased_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value_hash"], name="erased_identifier_unique")]

    def __str__(self) -> str:
        return f"erased {self.kind} {self.value_hash[:12]}…"


class RetentionPolicy(BaseModel):
    """How long raw events of a type are kept. The policy with no event type
    covers every type without a policy of its own."""

    event_type = models.CharField(
        max_length=100, blank=True, unique=True, help_text="Leave empty for the default of all other types."
    )
    keep_days = models.PositiveIntegerField()

    class Meta:
        ordering = ["event_type"]
        verbose_name_plural = "retention policies"
        constraints = [models.CheckConstraint(condition=Q(keep_days__gte=1), name="retention_keeps_a_day_at_least")]

    def __str__(self) -> str:
        return f"{self.event_type or 'every other event type'}: {self.keep_days} days"


class RetentionRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    deleted = models.JSONField(default=dict, help_text="Events deleted, by policy.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"purge of {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())
