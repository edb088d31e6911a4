"""The filters Tailor adds to Liquid's standard ones: what a marketer needs to write
personal email without code. Filters that depend on the recipient (locale, time zone,
the campaign) read it from the render's globals, which data.py sets."""

import functools
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from liquid.builtin.filters.misc import default as liquid_default
from liquid.filter import with_context
from markupsafe import Markup

from campaigns.templating.notes import note_fallback

FORMATS = ("short", "medium", "long", "full")
DEFAULT_LOCALE = "en_US"


@functools.lru_cache(maxsize=256)
def _locale(tag: object) -> Locale:
    try:
        return Locale.parse(str(tag or DEFAULT_LOCALE).replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


@functools.lru_cache(maxsize=256)
def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@functools.lru_cache(maxsize=8192)
def _money(amount: str, code: str, locale: Locale) -> str:
    # A campaign prints the same prices in the same few locales over and over: Babel's
    # formatting was a seventh of a campaign's render time, once per price and locale now.
    return format_currency(Decimal(amount), code, locale=locale)


@with_context
def money(value: object, currency: object = None, *, context) -> str:
    """{{ product.price | money }} or {{ total | money: "EUR" }}: in the customer's locale."""
    amount = _decimal(value)
    if amount is None:
        return ""
    code = str(currency or context.resolve("currency", default="USD"))
    return _money(str(amount), code, _locale(context.resolve("locale", default=None)))


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


@with_context
def local_date(value: object, format: object = "medium", *, context) -> str:
    """{{ order.date | local_date: "long" }}: a date in the customer's locale and time zone."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    zone, locale = _zone(context.resolve("timezone", default=None)), _locale(context.resolve("locale", default=None))
    style = format if format in FORMATS else "medium"
    return format_date(moment.astimezone(zone) if moment.tzinfo else moment, style, locale=locale)


@with_context
def local_datetime(value: object, format: object = "medium", *, context) -> str:
    """{{ moment | local_datetime: "short" }}: date and time in the customer's locale and time zone."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    zone, locale = _zone(context.resolve("timezone", default=None)), _locale(context.resolve("locale", default=None))
    style = format if format in FORMATS else "medium"
    return format_datetime(moment, style, tzinfo=zone, locale=locale)


@with_context
def greeting(name: object = "", *, context) -> str:
    """{{ customer.first_name | greeting }}: "Good morning, Ana" by the hour where she is."""
    now = _as_datetime(context.resolve("now", default=None)) or datetime.now(ZoneInfo("UTC"))
    hour = now.astimezone(_zone(context.resolve("timezone", default=None))).hour
    words = "Good morning" if 5 <= hour < 12 else "Good afternoon" if 12 <= hour < 18 else "Good evening"
    name = str(name or "").strip()
    return f"{words}, {name}" if name else words


@with_context
def product_url(product: object, *, context) -> str:
    """{{ product | product_url }}: the product's page, tagged for the campaign's analytics."""
    url = product.get("url", "") if isinstance(product, dict) else ""
    if not url:
        return ""
    campaign = context.resolve("campaign", default=None)
    slug = campaign.get("utm_campaign", "") if isinstance(campaign, dict) else ""
    if type(url) is str and type(slug) is str:  # str subclasses (Markup) are not cached: the same type back
        return _url_tagged_cached(url, slug)
    return _url_tagged(url, slug)


def _url_tagged(url, slug) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("utm_source", "tailor"), ("utm_medium", "email")]
    if slug:
        query.append(("utm_campaign", slug))
    return urlunsplit(parts._replace(query=urlencode(query)))


# A campaign links to the same products over and over: each link parsed and encoded once.
_url_tagged_cached = functools.lru_cache(maxsize=8192)(_url_tagged)


def product_image(product: object, width: object = 300) -> Markup:
    """{{ product | product_image: 200 }}: an <img> with the product's name as its alt text."""
    if not isinstance(product, dict) or not product.get("image_url"):
        return Markup("")
    size = int(width) if str(width).isdigit() and 0 < int(width) <= 1200 else 300
    return Markup(
        '<img src="{}" alt="{}" width="{}" style="display:block;max-width:100%;height:auto;border:0">'
    ).format(product["image_url"], product.get("name", ""), size)


def recommend(recommendations: object, count: object = 4, *, category: object = "", max_price: object = None) -> list:
    """{% assign picks = recommendations | recommend: 4, category: "Shoes", max_price: 80 %}."""
    number = max(1, min(int(count) if str(count).isdigit() else 4, 20))
    category, ceiling = str(category or ""), _decimal(max_price)
    pick = getattr(recommendations, "pick", None)  # the recommendations drop reads them in bulk
    if pick is not None:
        return pick(count=number, category=category, max_price=ceiling)
    # a list of products (a made-up profile's): the same filters, in Python
    listed = [p for p in recommendations if isinstance(p, dict)] if isinstance(recommendations, list) else []
    chosen = [
        p for p in listed
        if (not category or p.get("category") == category)
        and (ceiling is None or (_decimal(p.get("price")) or 0) <= ceiling)
    ]  # fmt: skip
    return chosen[:number]


def default(value: object, fallback: object = "", *, allow_false: bool = False) -> object:
    """Liquid's default, noting when the fallback is what shows (previews count them)."""
    shown = liquid_default(value, fallback, allow_false=allow_false)
    if shown is fallback and value is not fallback:
        note_fallback(fallback)
    return shown


# What of the render's globals each filter above reads besides its arguments (dotted paths):
# a block that uses it renders the same for the same values of these (blocks.py reuses on them).
CONTEXT_READS = {
    "money": ("currency", "locale"),
    "local_date": ("timezone", "locale"),
    "local_datetime": ("timezone", "locale"),
    "greeting": ("now", "timezone"),
    "product_url": ("campaign.utm_campaign",),
}

REGISTRY = {
    "money": money,
    "local_date": local_date,
    "local_datetime": local_datetime,
    "greeting": greeting,
    "product_url": product_url,
    "product_image": product_image,
    "recommend": recommend,
    "default": default,
}
