"""A marketer writes an email template in the admin, in a real browser: two content
blocks (one refused first for a typo, with its line and column), a template refused for
an unknown filter on line 6 and then saved as version 1; previews it for a customer with
data, for one who did not consent to personalization, and across a segment's members."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from campaigns.models import EmailTemplate
from consent.models import Purpose
from consent.services import consent_grant
from tests.factories import CustomerFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory

pytestmark = pytest.mark.e2e
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

HEADER = (
    '<table width="100%" cellpadding="0" cellspacing="0"><tr><td class="masthead">{{ shop.name }}</td></tr></table>'
)
FOOTER = (
    '<p class="footer">You get this because you said yes to our news.\n'
    '<a href="{{ links.unsubscribe }}">Unsubscribe</a> · <a href="{{ links.preferences }}">Preferences</a><br>\n'
    "{{ shop.name }}, {{ shop.address }}</p>"
)
FOOTER_TYPO = FOOTER.replace("{{ links.unsubscribe }}", "{{ links.unsubscribe }")
SUBJECT = "{{ customer.first_name | default: 'Hello' }}, your spring picks"
PREHEADER = "{% if customer.traits.order_count > 0 %}Free shipping inside{% else %}10% off your first order{% endif %}"
HTML = """<html><head><style>
body { margin: 0; background: #f4f4f4 } .masthead { background: #1f3b4d; color: #fff; padding: 18px 24px; font: bold 22px sans-serif }
p { font: 16px/1.5 sans-serif; color: #222; margin: 16px 24px } .footer { color: #777; font-size: 12px }
</style></head><body>
{% render 'header' %}
<p>Hi {{ customer.first_name | default: "there" }},</p>
{% if customer.traits.order_count >= 3 %}<p>Thank you for your {{ customer.traits.order_count }} orders: shipping is on us next time.</p>{% elsif customer.traits.order_count >= 1 %}<p>Good to see you again.</p>{% else %}<p>Here is 10% off your first order.</p>{% endif %}
<p>Picked for you in {{ customer.traits.favorite_categories | first | default: "our bestsellers" }}.</p>
<script>document.body.insertAdjacentHTML("beforeend", "<p>SCRIPT RAN</p>")</script>
{% render 'footer' %}
</body></html>"""  # noqa: E501  (an email's source as a marketer writes it)
# The same with a filter that does not exist, on line 6 of the HTML.
HTML_TYPO = HTML.replace("first_name | default", "first_name | shout | default")
# name: consents to personalization, orders, favorite categories (None: no traits yet)
PEOPLE = {
    "Ada": (True, 5, ["Shoes"]),
    "Bo": (False, 4, ["Bags"]),
    "Cy": (True, 1, []),
    "Di": (True, 1, ["Bags"]),
    "": (True, 0, []),
    "Flo": (False, 0, None),
}


@pytest.fixture
def shop(transactional_db):
    """Six people in one segment; Bo and Flo did not consent to personalization (Bo has traits)."""
    people = {}
    for name, (consents, orders, favorites) in PEOPLE.items():
        customer = CustomerFactory(first_name=name, email=f"{(name or 'noname').lower()}@example.com")
        if consents:
            consent_grant(customer=customer, purpose=Purpose.PERSONALIZATION, source="admin", actor="test")
        if favorites is not None:
            TraitsFactory(customer=customer, order_count=orders, favorite_categories=favorites)
        people[name] = customer
    segment = SegmentFactory(name="Spring audience", member_count=len(people))
    for customer in people.values():
        SegmentMembershipFactory(segment=segment, customer=customer)
    User.objects.create_superuser("marketer", "m@example.com", "a-long-password-1")
    return people


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("marketer")


def block_add(page: Page, url: str, name: str, source: str) -> None:
    page.goto(f"{url}/admin/campaigns/contentblock/add/")
    page.fill("#id_name", name)
    page.fill("#id_source", source)
    page.click("input[name=_save]")


def column_of(source: str, line: int, text: str) -> int:
    return source.splitlines()[line - 1].index(text) + 1


def test_a_marketer_writes_a_template_and_previews_it(server, shop, browser_context):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, server.url)

    # Blocks: a typo is refused with where it is, on the source field; fixed, both save.
    block_add(page, server.url, "header", HEADER)
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    block_add(page, server.url, "footer", FOOTER_TYPO)
    column = column_of(FOOTER_TYPO, 2, 'unsubscribe }"') + len("unsubscribe ")  # the stray "}"
    expect(page.locator(".field-source .errorlist")).to_have_text(f"source, line 2, column {column}: unexpected '}}'")
    page.fill("#id_source", FOOTER)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # The template: an unknown filter on line 3 of the HTML is refused on the HTML field.
    page.goto(f"{server.url}/admin/campaigns/emailtemplate/add/")
    page.fill("#id_name", "Spring picks")
    page.fill("#id_subject", SUBJECT)
    page.fill("#id_preheader", PREHEADER)
    page.fill("#id_html", HTML_TYPO)
    page.click("input[name=_save]")
    column = column_of(HTML_TYPO, 6, "shout")
    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    expect(page.locator(".field-html .errorlist")).to_have_text(
        f"html, line 6, column {column}: unknown filter 'shout'"
    )
    assert not EmailTemplate.objects.exists()

    page.fill("#id_html", HTML)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text="Spring picks")
    expect(row.locator("td.field-version")).to_have_text("1")
    row.get_by_role("link", name="Spring picks").click()
    expect(page.locator(".tp-versions tbody tr")).to_have_count(1)
    expect(page.locator(".tp-versions tbody tr")).to_contain_text("marketer")
    page.get_by_role("link", name="Preview", exact=True).click()

    # Ada consented and has five orders: her preview is personal, and no script ran in it.
    ada, bo = shop["Ada"], shop["Bo"]
    page.get_by_role("textbox", name="Customer").fill(ada.email)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".tp-subject")).to_have_text("Ada, your spring picks")
    expect(page.locator(".tp-preheader")).to_have_text("Free shipping inside")
    expect(page.get_by_role("status")).to_have_text(
        "Personalization allowed: this customer consented to personalization."
    )
    frame = page.frame_locator("iframe.tp-frame")
    expect(frame.locator("body")).to_contain_text("Thank you for your 5 orders: shipping is on us next time.")
    expect(frame.locator("body")).to_contain_text("Picked for you in Shoes.")
    expect(frame.locator("body")).not_to_contain_text("SCRIPT RAN")
    assert page.locator("iframe.tp-frame").get_attribute("sandbox") == ""
    expect(page.locator(".tp-text")).to_contain_text("Thank you for your 5 orders")
    branches = page.locator(".tp-note", has_text="Branches taken").locator("tbody tr")
    if_line = next(number for number, text in enumerate(HTML.splitlines(), 1) if "{% if customer" in text)
    expect(branches).to_have_text(
        [
            "preheader 1 customer.traits.order_count > 0 if",
            f"html {if_line} customer.traits.order_count >= 3 if",
            re.compile(r"text \(generated from the HTML\)\s+\d+\s+customer\.traits\.order_count >= 3\s+if"),
        ],
        use_inner_text=True,
    )
    expect(page.locator(".tp-note", has_text="Fallbacks shown")).to_contain_text("None: every default had a value.")
    page.screenshot(path=SCREENSHOTS / "template-preview.png", full_page=True)

    # Bo has four orders but no consent to personalization: fallbacks, not his traits.
    page.get_by_role("textbox", name="Customer").fill(str(bo.pk))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("status")).to_have_text(
        "Personalization withheld: this customer has not consented; fallbacks shown."
    )
    expect(page.locator(".tp-subject")).to_have_text("Bo, your spring picks")
    expect(frame.locator("body")).to_contain_text("Here is 10% off your first order.")
    expect(frame.locator("body")).to_contain_text("Picked for you in our bestsellers.")
    expect(page.locator(".tp-note", has_text="Fallbacks shown").locator("li")).to_have_text(["our bestsellers"])
    missing = page.locator(".tp-note", has_text="Missing variables").locator("li")
    expect(missing).to_have_text(["customer.traits.order_count", "customer.traits.favorite_categories"])

    # The segment: six members rendered, two of them without personalization.
    page.get_by_role("link", name="Audience preview").click()
    page.get_by_label("Segment").select_option(label="Spring audience (6 members)")
    expect(page.get_by_label("Sample size")).to_have_value("200")
    page.get_by_role("button", name="Render the sample").click()
    expect(page.locator("#tp-result-title")).to_have_text("All 6 current members of Spring audience")
    counts = page.locator(".tp-counts li")
    expect(counts).to_have_text(["6 rendered", "0 failed", "2 not personalized (no consent: fallbacks shown)"])
    fallbacks = page.locator(".tp-note", has_text="Fallbacks shown").locator("tbody tr")
    # Bo, Flo (no consent), Cy and the nameless one (no favorite category); one without a name.
    expect(fallbacks).to_have_text(["our bestsellers 4 67%", "Hello 1 17%", "there 1 17%"], use_inner_text=True)
    missing = page.locator(".tp-note", has_text="Missing variables").locator("tbody tr")
    expect(missing).to_have_count(2)
    withheld = sorted([bo.pk, shop["Flo"].pk], reverse=True)
    for variable in ("customer.traits.favorite_categories", "customer.traits.order_count"):
        cells = missing.filter(has_text=variable).locator("td")
        expect(cells.nth(1)).to_have_text("2")
        links = cells.nth(2).get_by_role("link")
        assert sorted((int(text) for text in links.all_inner_texts()), reverse=True) == withheld
        for link in links.all():
            assert link.get_attribute("href") == f"/admin/personalization/customer/{link.inner_text()}/change/"
    rows = page.locator(".tp-note", has_text="Branches").locator("tbody tr", has_text="order_count >= 3")
    # The last columns: line, condition, branch, renders (the text part's own line shows apart).
    taken = {row.locator("td").nth(-2).inner_text(): row.locator("td").nth(-1).inner_text()
             for row in rows.all() if row.locator("td").nth(-4).inner_text() == str(if_line)}  # fmt: skip
    assert taken == {"if": "1", "elsif 1": "2", "else": "3"}
    page.screenshot(path=SCREENSHOTS / "template-audience-preview.png", full_page=True)
