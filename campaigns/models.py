from django.db import models
from django.db.models import Q

from consent.models import Topic
from core.append_only import AppendOnlyModel
from core.models import BaseModel
from personalization.models import Customer, Segment


class MessageKind(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional (e.g. opt-in confirmation)"
    MARKETING = "marketing", "Marketing"


class MessageStatus(models.TextChoices):
    PLANNED = "planned", "Planned, waiting for its time"
    WAITING = "waiting", "Waiting for the test's winner"
    HELD_OUT = "held_out", "In the holdout: gets nothing"
    CLAIMED = "claimed", "Claimed, being sent"
    SENT = "sent", "Handed to the ESP"
    FAILED = "failed", "Failed"
    IN_DOUBT = "in_doubt", "In doubt: the worker died during the ESP call"
    SKIPPED = "skipped", "Not sent: no longer allowed at send time"
    CANCELLED = "cancelled", "Not sent: the campaign was cancelled"


class AudienceGroup(models.TextChoices):
    MAIN = "main", "Main send"
    TEST = "test", "Test group (test-then-winner)"
    HOLDOUT = "holdout", "Holdout: gets nothing"


class Message(BaseModel):
    """One email to one person: the sending ledger. Links are registered here when it
    is sent, so that a click can only ever redirect to one of them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.CLAIMED)
    subject = models.CharField(max_length=500, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True)
    links = models.JSONField(default=list, blank=True, help_text="The tracked links, in order.")
    sent_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    template_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    # Indexed by (campaign, status) and (campaign, customer): an index of its own would only cost writes.
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    variant = models.ForeignKey("Variant", null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    audience_group = models.CharField(max_length=10, choices=AudienceGroup.choices, blank=True)
    send_after = models.DateTimeField(null=True, blank=True, help_text="Not before: local time, quiet hours.")
    # A batch claims its rows in order and sends them in that order, marking each sent
    # before the next ESP call: after a crash, only the first unsent row of the batch
    # can have reached the ESP (see campaigns/sending/ledger.py).
    claim = models.CharField(max_length=32, blank=True)
    claim_order = models.PositiveIntegerField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    personalized = models.BooleanField(null=True, blank=True, help_text="False: consent withheld personalization.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], condition=Q(campaign__isnull=False), name="message_one_per_campaign"
            ),
        ]
        # A row is written four times (planned, claimed, registered, sent) and every write of
        # a changed indexed column touches every index: these hold only the rows they serve.
        indexes = [
            # A batch claims the lowest ids of a campaign's planned rows: in index order, no sort.
            models.Index(fields=["campaign", "status", "id"], name="message_campaign_status_id"),
            # The frequency rules count each recipient's recent marketing email.
            models.Index(
                fields=["customer", "sent_at"],
                condition=Q(kind=MessageKind.MARKETING, status=MessageStatus.SENT),
                name="message_marketing_sent",
            ),
            models.Index(fields=["claim"], condition=Q(status=MessageStatus.CLAIMED), name="message_claimed"),
            models.Index(fields=["esp_message_id"], condition=~Q(esp_message_id=""), name="message_esp_named"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} to customer {self.customer_id}"


# --- templates ----------------------------------------------------------------------


class SourceFormat(models.TextChoices):
    HTML = "html", "HTML"
    MJML = "mjml", "MJML (compiled to HTML)"


class ContentBlock(BaseModel):
    """Reusable content (header, footer, product card), included with {% render 'name' %}.
    A template version copies the blocks it uses, so editing a block changes the next
    version, never one that was sent."""

    name = models.SlugField(max_length=80, unique=True, help_text="Used as {% render 'name' %}.")
    description = models.CharField(max_length=255, blank=True)
    source = models.TextField(help_text="Liquid, like a template's HTML.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmailTemplate(BaseModel):
    """The draft a marketer edits. Every change that passes validation is saved as a new,
    immutable TemplateVersion; campaigns send a version, never the draft."""

    name = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=20, choices=MessageKind.choices, default=MessageKind.MARKETING)
    subject = models.CharField(max_length=500, help_text="Liquid: subject lines can be conditional too.")
    preheader = models.CharField(max_length=500, blank=True, help_text="The preview text inboxes show.")
    source_format = models.CharField(max_length=10, choices=SourceFormat.choices, default=SourceFormat.HTML)
    html = models.TextField(help_text="HTML or MJML with Liquid. The CSS of its style element is inlined when saved.")
    text = models.TextField(blank=True, help_text="Plain-text part; generated from the HTML when empty.")
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(AppendOnlyModel):
    """One saved state of a template, with what it needs to render exactly as it was:
    the compiled HTML (MJML compiled, CSS inlined, Liquid kept) and its blocks."""

    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    subject = models.CharField(max_length=500)
    preheader = models.CharField(max_length=500, blank=True)
    source_format = models.CharField(max_length=10, choices=SourceFormat.choices)
    html_source = models.TextField()
    text_source = models.TextField(blank=True)
    html = models.TextField(help_text="What renders: compiled, CSS inlined, Liquid intact.")
    text = models.TextField(help_text="What renders as the text part: written, or generated from the HTML.")
    blocks = models.JSONField(default=dict, blank=True, help_text="{name: source} of the blocks it renders.")
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"


# --- campaigns ------------------------------------------------------------------


class CampaignState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class ScheduleMode(models.TextChoices):
    NOW = "now", "As soon as it is sent"
    AT = "at", "At a time"
    LOCAL_TIME = "local_time", "At an hour of each recipient's own day"


class ExperimentMode(models.TextChoices):
    SPLIT = "split", "Split the whole audience between the variants"
    TEST_THEN_WINNER = "test_then_winner", "Test on a part, then send the winner to the rest"


class WinnerMetric(models.TextChoices):
    OPENS = "opens", "Unique opens by people (privacy-proxy and scanner opens left out)"
    CLICKS = "clicks", "Unique clicks by people"
    CONVERSIONS = "conversions", "Conversions (an order within the attribution window after a click)"
    REVENUE = "revenue", "Revenue per recipient"


class Campaign(BaseModel):
    """A marketing send: an audience, variants of content, a schedule, an experiment."""

    name = models.CharField(max_length=150, unique=True)
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The email topic people must have said yes to (empty: marketing email in general).",
    )  # fmt: skip
    segments = models.ManyToManyField(Segment, related_name="+", help_text="Members of any of these.")
    excluded_segments = models.ManyToManyField(Segment, blank=True, related_name="+", help_text="…but none of these.")
    from_email = models.EmailField(blank=True, help_text="Empty: DEFAULT_FROM_EMAIL.")
    from_name = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=CampaignState.choices, default=CampaignState.DRAFT)
    schedule_mode = models.CharField(max_length=12, choices=ScheduleMode.choices, default=ScheduleMode.NOW)
    send_at = models.DateTimeField(null=True, blank=True, help_text="For 'at a time'; the day for 'local time'.")
    local_hour = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-23, for 'local time'.")
    experiment_mode = models.CharField(max_length=20, choices=ExperimentMode.choices, default=ExperimentMode.SPLIT)
    holdout_percent = models.PositiveSmallIntegerField(default=0, help_text="Share of the audience that gets nothing.")
    test_percent = models.PositiveSmallIntegerField(default=20, help_text="Test-then-winner: share tested first.")
    test_hours = models.PositiveSmallIntegerField(default=4, help_text="Test-then-winner: hours before the choice.")
    winner_metric = models.CharField(max_length=12, choices=WinnerMetric.choices, default=WinnerMetric.CLICKS)
    min_sample = models.PositiveIntegerField(default=500, help_text="Recipients each variant needs to win.")
    alpha = models.FloatField(default=0.05, help_text="Significance level for a winner.")
    attribution_hours = models.PositiveIntegerField(default=120, help_text="Orders this long after a click count.")
    winner = models.ForeignKey("Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    winner_decision = models.TextField(blank=True)
    left_out = models.JSONField(default=dict, blank=True, help_text="{reason: people} at planning.")
    planned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50),
                name="campaign_holdout_at_most_half",
                violation_error_message="holdout_percent is at most 50: a holdout is a sample, not the audience.",
            ),
            models.CheckConstraint(
                condition=Q(test_percent__gte=1, test_percent__lte=90),
                name="campaign_test_share",
                violation_error_message="test_percent is between 1 and 90.",
            ),
            models.CheckConstraint(
                condition=Q(local_hour__isnull=True) | Q(local_hour__lte=23),
                name="campaign_local_hour",
                violation_error_message="local_hour is an hour of the day, 0 to 23.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Variant(BaseModel):
    """One version of a campaign's content: a template version, optionally another subject."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=50)
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="variants")
    subject = models.CharField(max_length=500, blank=True, help_text="Liquid; empty: the template's subject.")
    weight = models.PositiveSmallIntegerField(default=1)
    is_control = models.BooleanField(default=False)

    class Meta:
        ordering = ["campaign", "-is_control", "name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="variant_unique_name"),
            models.UniqueConstraint(fields=["campaign"], condition=Q(is_control=True), name="variant_one_control"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.name}"
