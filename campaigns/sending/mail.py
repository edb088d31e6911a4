"""One marketing message as it leaves: the rendered email with its tracked links, open
pixel, unsubscribe headers (RFC 8058 one-click) and the Anymail metadata and tags that
bring ESP webhooks back to its ledger row."""

import re
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, make_msgid
from html import unescape

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.text import slugify

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.selectors import message_get
from campaigns.templating.selectors import RenderedEmail, templates_render
from consent.selectors import unsubscribe_url
from core.errors import NotFound
from core.signing import token_make, token_read
from tracking.selectors import click_url, open_pixel_url

_HREF = re.compile(r"""(<a\b[^>]*?\shref\s*=\s*)(["'])(https?://[^"']+)\2""", re.I)
_BODY_CLOSE = re.compile(r"</body\s*>", re.I)
VIEW_LINK_MAX_AGE = timedelta(days=400)
_PIXEL = '<img src="{}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'


def campaign_utm(campaign: Campaign) -> str:
    """The campaign's name as product links tag it (utm_campaign)."""
    return slugify(campaign.name)[:60] or f"campaign-{campaign.pk}"


def view_in_browser_url(*, message_id: int) -> str:
    return f"{settings.TAILOR_BASE_URL}/m/{token_make(scope='view', payload={'m': message_id})}"


def _own(url: str) -> bool:
    """Tailor's own links (unsubscribe, preferences, view in browser) are never redirected."""
    return url.startswith(settings.TAILOR_BASE_URL + "/")


def _tracked(html: str, text: str, message_id: int) -> tuple[str, str, list[str]]:
    """Every web link of the HTML through the click redirect; the text part's the same ones."""
    links: list[str] = []
    redirects: list[str] = []  # links[i] through the click redirect

    def swap(match: re.Match) -> str:
        url = unescape(match[3])
        if _own(url):
            return match[0]
        links.append(url)
        redirects.append(click_url(message_id=message_id, link_index=len(links) - 1))
        return f"{match[1]}{match[2]}{redirects[-1]}{match[2]}"

    html = _HREF.sub(swap, html)
    for index, url in sorted(enumerate(links), key=lambda pair: -len(pair[1])):  # longest first: no prefix clash
        if url in text:
            text = text.replace(f"({url})", f"({redirects[index]})")
    return html, text, links


@dataclass
class Outgoing:
    message_id: int
    email: EmailMultiAlternatives
    links: list[str]
    esp_message_id: str  # our Message-ID, which SMTP keeps; an ESP's own id replaces it when given


def outgoing_build(
    *, message: Message, campaign: Campaign, rendered: RenderedEmail, unsubscribe: str, tracking: bool
) -> Outgoing:
    """The email for one ledger row. `tracking`: may opens and clicks be recorded for them."""
    html, text, links = rendered.html, rendered.text, []
    if tracking:
        html, text, links = _tracked(html, text, message.pk)
        pixel = _PIXEL.format(open_pixel_url(message_id=message.pk))
        html, found = _BODY_CLOSE.subn(pixel + "</body>", html, count=1)
        html = html if found else html + pixel
    customer = message.customer
    sender = settings.DEFAULT_FROM_EMAIL
    if campaign.from_email:
        sender = formataddr((campaign.from_name, campaign.from_email))
    message_id_header = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=text,
        from_email=sender,
        to=[formataddr((customer.full_name, customer.email))],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": message_id_header,
        },
    )
    email.attach_alternative(html, "text/html")
    # Anymail reads these (metadata comes back with every webhook); other backends ignore them.
    email.metadata = {"message": str(message.pk), "campaign": str(campaign.pk)}
    email.tags = [f"campaign-{campaign.pk}", f"variant-{message.variant.name}" if message.variant_id else "variant-"]
    email.track_clicks = email.track_opens = False  # Tailor tracks them itself
    return Outgoing(message_id=message.pk, email=email, links=links, esp_message_id=message_id_header)


def message_rendered_again(*, message: Message) -> RenderedEmail:
    """A sent message's content as its recipient got it (the same version and variant),
    without tracking: what "view in browser" shows."""
    campaign = message.campaign
    topic = campaign.topic.slug if campaign and campaign.topic_id else None
    links = {message.customer_id: {"unsubscribe": unsubscribe_url(customer=message.customer, topic=topic),
                                   "view_in_browser": view_in_browser_url(message_id=message.pk)}}  # fmt: skip
    # The campaign as the send gave it to the template (batches._prepared), utm_campaign included.
    context = {"id": campaign.pk, "name": campaign.name, "utm_campaign": campaign_utm(campaign),
               "variant": message.variant.name} if campaign else {}  # fmt: skip
    subject = message.variant.subject if message.variant_id else ""
    [rendered] = templates_render(version=message.template_version, customers=[message.customer],
                                  campaign=context, links=links, subject=subject)  # fmt: skip
    return rendered


def message_in_browser(*, token: str) -> RenderedEmail:
    """The sent message a "view in browser" token names, rendered again; NotFound otherwise."""
    payload = token_read(scope="view", token=token, max_age=VIEW_LINK_MAX_AGE)
    message = message_get(message_id=payload.get("m")) if isinstance(payload.get("m"), int) else None
    # In doubt too: the ESP may well have delivered it.
    shown = (MessageStatus.SENT, MessageStatus.IN_DOUBT)
    if message is None or message.template_version_id is None or message.status not in shown:
        raise NotFound("This message cannot be shown.")
    return message_rendered_again(message=message)
