from django.db import models

from core.append_only import AppendOnlyModel
from core.models import BaseModel
from personalization.models import Customer


class MessageKind(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional (e.g. opt-in confirmation)"
    MARKETING = "marketing", "Marketing"


class MessageStatus(models.TextChoices):
    CLAIMED = "claimed", "Claimed, being sent"
    SENT = "sent", "Handed to the ESP"
    FAILED = "failed", "Failed"


class Message(BaseModel):
    """One email to one person: the sending ledger. Links are registered here when it
    is sent, so that a click can only ever redirect to one of them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.CLAIMED)
    subject = models.CharField(max_length=500, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    links = models.JSONField(default=list, blank=True, help_text="The tracked links, in order.")
    sent_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    template_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )

    class Meta:
        ordering = ["-created_at"]

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
    html = models.TextField(help_text="HTML or MJML with Liquid. CSS in <style> is inlined when saved.")
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
