"""Writes of the campaigns app. All email Tailor sends leaves through here."""

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives


def transactional_email_send(
    *, to: str, subject: str, text: str, html: str = "", tags: Sequence[str] = (), metadata: dict | None = None
) -> str | None:
    """Send one non-marketing email (e.g. an opt-in confirmation); return the ESP's message id when known."""
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    if html:
        message.attach_alternative(html, "text/html")
    # Anymail backends read these to tag the message at the ESP; other backends ignore them.
    message.tags = list(tags)
    message.metadata = metadata or {}
    message.send()
    status = getattr(message, "anymail_status", None)
    return status.message_id if status else None
