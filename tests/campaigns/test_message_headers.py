"""A campaign's message as it goes on the wire: one-click unsubscribe headers (RFC 8058)
naming its recipient, the visible unsubscribe link, links through the click redirect and
an open pixel only when tracking consent allows, the Anymail metadata and tags that bring
webhooks back to its ledger row, and a view-in-browser page."""

import re

import pytest
from django.conf import settings
from django.core import mail

from campaigns.models import Message
from consent.models import Topic
from consent.selectors import link_customer
from tests.campaigns.support import CONTENT, SHOP_LINK, campaign_to, campaign_version, mime, send, subscriber

pytestmark = pytest.mark.django_db

A_PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
HREF = re.compile(r'href="([^"]+)"')


def local(url: str) -> str:
    assert url.startswith(settings.TAILOR_BASE_URL + "/"), url
    return url.removeprefix(settings.TAILOR_BASE_URL)


def sent_to(customer, **campaign_fields):
    """Send a newsletter campaign to the customer; its one message, parsed, and its ledger row."""
    campaign = send(campaign_to([customer], topic=Topic.objects.get(slug="newsletter"), **campaign_fields))
    [message] = mail.outbox
    return campaign, message, mime(message), Message.objects.get(campaign=campaign, customer=customer)


@pytest.fixture
def tracked(db):
    """A newsletter subscriber who also said yes to tracking."""
    return subscriber(topic="newsletter", tracking=True, first_name="Ada")


@pytest.fixture
def untracked(db):
    return subscriber(topic="newsletter", tracking=False, first_name="Grace")


def html_of(parsed) -> str:
    return parsed.get_body(preferencelist=("html",)).get_content()


def text_of(parsed) -> str:
    return parsed.get_body(preferencelist=("plain",)).get_content()


def unsubscribe_link(parsed) -> str:
    # A long header is folded onto its next line: the value unfolded starts with that space.
    found = re.fullmatch(r"<(https?://[^>\s]+)>", parsed["List-Unsubscribe"].strip())
    assert found, parsed["List-Unsubscribe"]
    return found[1]


# --- unsubscribing -------------------------------------------------------------------------


def test_list_unsubscribe_names_the_recipient_and_the_campaigns_topic(tracked):
    _, _, parsed, _ = sent_to(tracked)

    url = unsubscribe_link(parsed)
    token = re.fullmatch(rf"{re.escape(settings.TAILOR_BASE_URL)}/u/([^/?#]+)", url)[1]
    customer, payload = link_customer(scope="unsubscribe", token=token)
    assert customer == tracked
    assert payload["t"] == "newsletter"


def test_list_unsubscribe_post_asks_for_one_click(tracked):
    _, _, parsed, _ = sent_to(tracked)

    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_same_unsubscribe_link_is_visible_in_the_html_and_the_text(tracked):
    _, _, parsed, _ = sent_to(tracked)

    url = unsubscribe_link(parsed)
    assert f'href="{url}"' in html_of(parsed)
    assert f"Unsubscribe ({url})" in text_of(parsed)


# --- links and the pixel -------------------------------------------------------------------


def test_every_other_link_goes_through_the_click_redirect_to_the_registered_link(client, tracked):
    _, _, parsed, row = sent_to(tracked)
    html, text = html_of(parsed), text_of(parsed)

    own = (unsubscribe_link(parsed), settings.TAILOR_BASE_URL + "/m/")
    redirected = [url for url in HREF.findall(html) if not url.startswith(own)]
    assert redirected and all(local(url).startswith("/t/c/") for url in redirected)
    assert "shop.example.com" not in html and "shop.example.com" not in text
    assert f"Shop the sale ({redirected[0]})" in text
    assert row.links == [SHOP_LINK]

    response = client.get(local(redirected[0]), HTTP_USER_AGENT=A_PERSON)
    assert response.status_code == 302
    assert response["Location"] == SHOP_LINK


def test_a_tampered_click_token_is_a_404(client, tracked):
    _, _, parsed, _ = sent_to(tracked)
    [click] = [url for url in HREF.findall(html_of(parsed)) if "/t/c/" in url]

    response = client.get(local(click)[:-1] + ("A" if not click.endswith("A") else "B"), HTTP_USER_AGENT=A_PERSON)

    assert response.status_code == 404


def test_the_open_pixel_is_there_when_tracking_consent_allows(client, tracked):
    _, _, parsed, _ = sent_to(tracked)

    [pixel] = re.findall(r'<img src="([^"]+)" width="1" height="1"', html_of(parsed))
    assert re.fullmatch(r"/t/o/[^/]+\.gif", local(pixel))
    assert html_of(parsed).index(pixel) < html_of(parsed).index("</body>")
    assert client.get(local(pixel), HTTP_USER_AGENT=A_PERSON)["Content-Type"] == "image/gif"


def test_without_tracking_consent_there_is_no_pixel_and_links_go_straight_to_the_shop(untracked):
    _, _, parsed, row = sent_to(untracked)
    html, text = html_of(parsed), text_of(parsed)

    assert "/t/o/" not in html
    assert "/t/c/" not in html and "/t/c/" not in text
    assert 'href="https://shop.example.com/sale?colour=red&amp;size=42"' in html
    assert f"Shop the sale ({SHOP_LINK})" in text
    assert row.links == []


# --- what brings the ESP's webhooks back ----------------------------------------------------


def test_the_anymail_metadata_names_the_ledger_row_and_the_tags_the_campaign_and_variant(tracked):
    campaign, message, _, row = sent_to(tracked)

    params = message.anymail_test_params
    assert params["metadata"] == {"message": str(row.pk), "campaign": str(campaign.pk)}
    assert params["tags"] == [f"campaign-{campaign.pk}", "variant-A"]
    assert (params["track_clicks"], params["track_opens"]) == (False, False)


def test_the_message_id_header_is_the_ledgers_and_the_recipient_is_named(tracked):
    _, _, parsed, row = sent_to(tracked)

    assert parsed["Message-ID"] == row.esp_message_id
    assert parsed["Message-ID"].endswith("@testserver>")
    assert parsed["To"].addresses[0].addr_spec == tracked.email
    assert parsed["To"].addresses[0].display_name == tracked.full_name


def test_the_from_address_is_the_campaigns_when_it_has_one(tracked):
    _, _, parsed, _ = sent_to(tracked, from_email="news@shop.example.com", from_name="The Shop")

    assert str(parsed["From"]) == "The Shop <news@shop.example.com>"


# --- view in browser --------------------------------------------------------------------------


def view_link(parsed) -> str:
    [url] = [url for url in HREF.findall(html_of(parsed)) if url.startswith(settings.TAILOR_BASE_URL + "/m/")]
    return url


def test_the_view_in_browser_link_shows_the_message(client, tracked):
    _, _, parsed, _ = sent_to(tracked)

    response = client.get(local(view_link(parsed)))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<p>Hello Ada</p>" in page
    assert "/t/o/" not in page, "viewing it in a browser is not an open"
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_a_tampered_view_in_browser_link_is_a_404(client, tracked):
    _, _, parsed, _ = sent_to(tracked)
    path = local(view_link(parsed))

    response = client.get(path[:-1] + ("A" if not path.endswith("A") else "B"))

    assert response.status_code == 404


def test_the_view_in_browser_page_is_rendered_with_the_campaign_as_it_was_sent(client, tracked):
    version = campaign_version(CONTENT + "<p>Tagged {{ campaign.utm_campaign }} / {{ campaign.variant }}</p>")
    _, _, parsed, _ = sent_to(tracked, name="Winter Sale", version=version)
    assert "<p>Tagged winter-sale / A</p>" in html_of(parsed)

    page = client.get(local(view_link(parsed))).content.decode()

    assert "<p>Tagged winter-sale / A</p>" in page
