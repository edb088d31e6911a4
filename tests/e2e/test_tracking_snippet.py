"""The JavaScript snippet in a real browser: cookies, batching, beacons, consent and GPC."""

import time
from pathlib import Path

import pytest

from tracking.models import ConsentMode, Event, Source

pytestmark = pytest.mark.e2e
SNIPPET = (Path(__file__).resolve().parents[2] / "static" / "tailor" / "tailor.js").read_text()


@pytest.fixture
def source(transactional_db):
    return Source.objects.create(name="shop", consent_mode=ConsentMode.UPSTREAM)


def install(page, server, source, **options) -> None:
    """Put the snippet on a page of the server's own origin, as a shop would."""
    page.goto(f"{server.url}/subscribe/form")
    attributes = {"data-write-key": source.write_key, "data-endpoint": server.url, **options}
    page.evaluate(
        """([attributes, code]) => {
            const script = document.createElement("script");
            for (const [name, value] of Object.entries(attributes)) script.setAttribute(name, value);
            script.text = code;
            document.head.appendChild(script);
        }""",
        [attributes, SNIPPET],
    )


def events_arrive(count: int, timeout: float = 10) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Event.objects.count() < count:
        time.sleep(0.1)
    return list(Event.objects.order_by("id"))


def test_page_views_and_ecommerce_helpers_arrive_with_an_anonymous_id_cookie(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source)
    page.evaluate("""() => {
        tailor.page();
        tailor.productViewed({product_id: "SKU-7", name: "Boot", price: 80, category: "Shoes"});
        tailor.productAdded({product_id: "SKU-7", price: 80}, 2);
        tailor.flush();
    }""")
    events = events_arrive(3)
    assert [e.type for e in events] == ["Page Viewed", "Product Viewed", "Product Added"]
    cookie = {c["name"]: c["value"] for c in browser_context.cookies()}["tailor_aid"]
    assert {e.anonymous_id for e in events} == {cookie}
    assert events[2].properties["quantity"] == 2 and events[2].product_id == "SKU-7"
    assert events[0].context["library"]["name"] == "tailor.js"


def test_identify_then_track_carries_the_user_id(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source)
    page.evaluate("""() => {
        tailor.identify("shop-42", {email: "ada@example.com"});
        tailor.track("Signed Up");
        tailor.flush();
    }""")
    events = events_arrive(2)
    assert [(e.type, e.user_id) for e in events] == [("Identify", "shop-42"), ("Signed Up", "shop-42")]


def test_events_left_in_the_queue_leave_with_a_beacon_when_the_page_goes(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source)
    page.evaluate("""() => tailor.track("Product List Viewed", {list_id: "shoes"})""")
    page.goto("about:blank")  # pagehide: the snippet sends what it holds with sendBeacon
    assert [e.type for e in events_arrive(1)] == ["Product List Viewed"]


def test_with_consent_required_there_is_no_cookie_and_no_event_until_a_yes(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source, **{"data-require-consent": "true"})
    page.evaluate("""() => { tailor.page(); tailor.track("Product Viewed", {product_id: "SKU-1"}); tailor.flush(); }""")
    time.sleep(1)
    assert not Event.objects.exists()
    assert "tailor_aid" not in {c["name"] for c in browser_context.cookies()}
    page.evaluate("""() => tailor.consent(true)""")
    assert [e.type for e in events_arrive(2)] == ["Page Viewed", "Product Viewed"]
    assert "tailor_aid" in {c["name"] for c in browser_context.cookies()}


def test_a_no_to_consent_drops_what_was_held(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source, **{"data-require-consent": "true"})
    page.evaluate("""() => { tailor.track("Product Viewed"); tailor.consent(false); tailor.flush(); }""")
    page.goto("about:blank")
    time.sleep(1)
    assert not Event.objects.exists()


def test_a_browser_sending_global_privacy_control_is_not_tracked(server, source, browser_context):
    page = browser_context.new_page()
    page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})")
    install(page, server, source)
    page.evaluate("""() => { tailor.page(); tailor.consent(true); tailor.track("Product Viewed"); tailor.flush(); }""")
    page.goto("about:blank")
    time.sleep(1)
    assert not Event.objects.exists()
    assert "tailor_aid" not in {c["name"] for c in browser_context.cookies()}


def test_a_yes_to_consent_is_remembered_on_the_next_page_and_sent_as_context(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source, **{"data-require-consent": "true"})
    page.evaluate("""() => tailor.consent(true)""")
    install(page, server, source, **{"data-require-consent": "true"})  # the next page load
    page.evaluate("""() => { tailor.track("Product Viewed"); tailor.flush(); }""")
    [event] = events_arrive(1)
    assert event.context["consent"] == {"categoryPreferences": {"analytics": True}}


def test_a_no_to_consent_deletes_the_cookies_a_yes_had_set(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source, **{"data-require-consent": "true"})
    page.evaluate("""() => { tailor.consent(true); tailor.identify("u-1"); tailor.consent(false); }""")
    assert not {"tailor_aid", "tailor_uid", "tailor_consent"} & {c["name"] for c in browser_context.cookies()}


def test_the_queue_form_keeps_working_after_the_snippet_has_loaded(server, source, browser_context):
    page = browser_context.new_page()
    install(page, server, source)
    page.evaluate("""() => { tailor.push(["track", "Product Viewed", {product_id: "SKU-9"}]); tailor.flush(); }""")
    assert [(e.type, e.product_id) for e in events_arrive(1)] == [("Product Viewed", "SKU-9")]
