"""Rendering a version for many customers: in the order given, each with links signed for
them alone, the web links a send tracks in order, the preheader as the body's first,
hidden text, and a number of queries that does not grow with the number of customers."""

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.templating.data import Needs, recipients_data
from campaigns.templating.selectors import RenderGroup, templates_render, templates_render_groups
from consent.selectors import link_customer
from core.signing import InvalidToken
from tests.factories import CustomerFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory
from tests.recommendations.support import personalization_grant
from tests.templates.support import SHOP_URL, boots_and_cap, main, scored, version_of

pytestmark = pytest.mark.django_db

LINKS = (
    '<a href="{{ shop.url }}">Shop</a>'
    '{% for p in products.popular limit: 2 %}<a href="{{ p | product_url }}">{{ p.name }}</a>{% endfor %}'
    '<a href="mailto:help@shop.example.com">Help</a><a href="#top">Top</a>'
    '<a href="{{ links.preferences }}">Preferences</a>'
)


@pytest.fixture
def products(db):
    boots_and_cap()


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --- order and per-customer content ------------------------------------------------------------


def test_renders_come_back_in_the_order_the_customers_were_given(db):
    customers = [CustomerFactory(first_name=name) for name in ("Ana", "Bo", "Cy", "Dee")]
    given = [customers[2], customers[0], customers[3], customers[1]]

    rendered = templates_render(version=version_of("{{ customer.first_name }}"), customers=given)

    assert [r.customer_id for r in rendered] == [c.pk for c in given]
    assert [main(r) for r in rendered] == ["Cy", "Ana", "Dee", "Bo"]


def test_each_unsubscribe_link_is_signed_for_its_customer_alone(db):
    ana, bo = CustomerFactory(), CustomerFactory()

    rendered = templates_render(version=version_of("{{ links.unsubscribe }}"), customers=[ana, bo])

    for customer, email in zip([ana, bo], rendered, strict=True):
        url = main(email)
        assert url.startswith("http://testserver/u/")
        assert link_customer(scope="unsubscribe", token=token_of(url)) == (customer, {"c": customer.pk, "t": None})
    assert main(rendered[0]) != main(rendered[1])


def test_each_preferences_link_is_signed_for_its_customer_alone(db):
    ana, bo = CustomerFactory(), CustomerFactory()

    rendered = templates_render(version=version_of("{{ links.preferences }}"), customers=[ana, bo])

    assert [link_customer(scope="preferences", token=token_of(main(r)))[0] for r in rendered] == [ana, bo]


def test_a_link_signed_for_one_purpose_does_not_open_another(db):
    [rendered] = templates_render(version=version_of("{{ links.unsubscribe }}"), customers=[CustomerFactory()])

    with pytest.raises(InvalidToken):
        link_customer(scope="preferences", token=token_of(main(rendered)))


def test_links_given_for_a_customer_are_added_to_theirs(db):
    ana, bo = CustomerFactory(), CustomerFactory()
    version = version_of("[{{ links.view_in_browser }}]")

    rendered = templates_render(
        version=version, customers=[ana, bo], links={ana.pk: {"view_in_browser": "https://t.example/v/1"}}
    )

    assert [main(r) for r in rendered] == ["[https://t.example/v/1]", "[]"]


# --- tracked links ---------------------------------------------------------------------------------


def test_the_tracked_links_are_the_web_links_of_the_html_in_order(products):
    customer = CustomerFactory()

    [rendered] = templates_render(version=version_of(LINKS), customers=[customer])

    assert rendered.links[:4] == [
        SHOP_URL,
        f"{SHOP_URL}/p/BOOT?utm_source=tailor&utm_medium=email",
        f"{SHOP_URL}/p/CAP?utm_source=tailor&utm_medium=email",
        rendered.links[3],
    ]
    assert link_customer(scope="preferences", token=token_of(rendered.links[3]))[0] == customer
    assert link_customer(scope="unsubscribe", token=token_of(rendered.links[4]))[0] == customer
    assert len(rendered.links) == 5  # not mailto: nor #top


def test_a_tracked_link_is_the_address_itself_not_its_html_escape(products):
    [rendered] = templates_render(version=version_of(LINKS), customers=[CustomerFactory()])

    assert f'href="{SHOP_URL}/p/BOOT?utm_source=tailor&amp;utm_medium=email"' in rendered.html
    assert f"{SHOP_URL}/p/BOOT?utm_source=tailor&utm_medium=email" in rendered.links


def test_product_links_carry_the_campaign(products):
    [rendered] = templates_render(
        version=version_of(LINKS), customers=[CustomerFactory()], campaign={"utm_campaign": "winter-sale"}
    )

    assert rendered.links[1] == f"{SHOP_URL}/p/BOOT?utm_source=tailor&utm_medium=email&utm_campaign=winter-sale"


# --- the preheader ----------------------------------------------------------------------------------


def test_the_preheader_is_the_first_hidden_text_of_the_body(db):
    version = version_of("Hi", preheader="Hi {{ customer.first_name }}, new this week")

    [rendered] = templates_render(version=version, customers=[CustomerFactory(first_name="Ana")])

    assert rendered.preheader == "Hi Ana, new this week"
    assert rendered.html.startswith(
        '<html><head></head><body><div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        'opacity:0;overflow:hidden;mso-hide:all">Hi Ana, new this week</div><main>Hi</main>'
    )


def test_the_preheader_is_not_in_the_text_part(db):
    version = version_of("Hi", preheader="New this week")

    [rendered] = templates_render(version=version, customers=[CustomerFactory()])

    assert "New this week" not in rendered.text


def test_without_a_preheader_the_body_starts_with_the_content(db):
    [rendered] = templates_render(version=version_of("Hi"), customers=[CustomerFactory()])

    assert (rendered.preheader, rendered.html.startswith("<html><head></head><body><main>Hi</main>")) == ("", True)


def test_subject_and_preheader_are_on_one_line(db):
    version = version_of(
        "Hi", subject="{% if customer.first_name != blank %}\n  {{ customer.first_name }},\n{% endif %}  news",
        preheader="  New\n\n this   week ",
    )  # fmt: skip

    [rendered] = templates_render(version=version, customers=[CustomerFactory(first_name="Ana")])

    assert (rendered.subject, rendered.preheader) == ("Ana, news", "New this week")


# --- queries: a constant number, whatever the number of customers -----------------------------------

EVERYTHING = (
    "{{ customer.first_name }}|{{ customer.traits.order_count }}|{{ customer.scores.purchase_30d }}"
    "|{{ customer.segments | join: ',' }}|{% for p in customer.traits.last_viewed %}{{ p.name }};{% endfor %}"
    "|{% assign picks = recommendations | recommend: 2 %}{% for p in picks %}{{ p.name }};{% endfor %}"
    "|{% for p in products.popular %}{{ p.name }};{% endfor %}"
    "|{% for p in products.trending %}{{ p.name }};{% endfor %}"
    '|<a href="{{ links.preferences }}">Preferences</a>'
)
# Consent (1); traits (1) and the products last viewed (1); scores (1); segments (1); the shared lists,
# popular and trending (2), and their products (1); for recommendations the customers' favorite
# categories (1), the active model (1), what is popular in those categories (1), the products (1) and
# past orders (1).
QUERIES = 13


@pytest.fixture
def audience(products):
    """60 consenting customers with traits, a score and a segment each."""
    segment = SegmentFactory(name="VIP")
    customers = []
    for i in range(60):
        customer = CustomerFactory(first_name=f"C{i}")
        TraitsFactory(customer=customer, order_count=i, favorite_categories=["Hats"], last_viewed=[{"sku": "BOOT"}])
        scored(customer, i % 100)
        SegmentMembershipFactory(customer=customer, segment=segment)
        personalization_grant(customer)
        customers.append(customer)
    return customers


def queries_to_render(version, customers) -> int:
    cache.clear()  # nothing cached: every list is read and ranked afresh
    with CaptureQueriesContext(connection) as queries:
        rendered = templates_render(version=version, customers=customers)
    assert [r.error for r in rendered] == [""] * len(customers)
    return len(queries.captured_queries)


def test_every_kind_of_data_is_rendered_for_each_customer(audience):
    version = version_of(EVERYTHING)

    rendered = templates_render(version=version, customers=audience[:2])

    assert [re.sub(r"<a .*", "", main(r)) for r in rendered] == [
        "C0|0|0|VIP|Boots;|Cap;|Boots;Cap;||", "C1|1|1|VIP|Boots;|Cap;|Boots;Cap;||",
    ]  # fmt: skip


def test_rendering_50_customers_takes_as_many_queries_as_rendering_10(audience):
    version = version_of(EVERYTHING)
    templates_render(version=version, customers=audience[:1])  # the version is parsed once per process

    assert queries_to_render(version, audience[:10]) == queries_to_render(version, audience[10:60]) == QUERIES


def test_rendering_50_customers_stays_within_the_constant(audience, django_assert_max_num_queries):
    version = version_of(EVERYTHING)
    templates_render(version=version, customers=audience[:1])
    cache.clear()

    with django_assert_max_num_queries(QUERIES):
        rendered = templates_render(version=version, customers=audience[:50])

    assert len(rendered) == 50 and all(r.personalized for r in rendered)


def test_versions_for_their_own_customers_read_the_customers_data_once(audience):
    first, second = version_of(EVERYTHING), version_of("B " + EVERYTHING)
    groups = [
        RenderGroup(version=first, customers=audience[:10]),
        RenderGroup(version=second, customers=audience[10:60]),
    ]
    templates_render_groups(groups=groups)  # both versions parsed
    cache.clear()

    with CaptureQueriesContext(connection) as queries:
        rendered = templates_render_groups(groups=groups)

    assert len(queries.captured_queries) == QUERIES
    assert [len(renders) for renders in rendered] == [10, 50]


def test_each_group_gets_its_own_version_subject_and_campaign(db):
    ana, bo, cy = (CustomerFactory(first_name=name) for name in ("Ana", "Bo", "Cy"))
    version = version_of("{{ campaign.variant }}:{{ customer.first_name }}")
    groups = [
        RenderGroup(version=version, customers=[ana, cy], campaign={"variant": "A"}),
        RenderGroup(version=version, customers=[bo], subject="Hi {{ customer.first_name }}", campaign={"variant": "B"}),
    ]

    rendered = templates_render_groups(groups=groups)

    assert [[main(r) for r in renders] for renders in rendered] == [["A:Ana", "A:Cy"], ["B:Bo"]]
    assert rendered[1][0].subject == "Hi Bo"


def test_a_second_batch_reads_cached_recommendations(audience):
    version = version_of(EVERYTHING)
    templates_render(version=version, customers=audience[:50])

    with CaptureQueriesContext(connection) as queries:
        templates_render(version=version, customers=audience[:50])

    # The shared lists, the ranked lists and so the model and favorite categories come from the cache,
    # the products last viewed and recommended from the process's copy of the catalog; consent, traits,
    # scores, segments, the shared lists' products and the past orders that filter the lists do not.
    assert len(queries.captured_queries) == QUERIES - 7


def test_a_batch_reads_its_recommendations_before_any_recipient_is_rendered(audience):
    # Fetched inside the first recipient's render, they would count against that render's time limit.
    recipients = recipients_data(customers=audience[:3], needs=Needs(recommendations=True))

    with CaptureQueriesContext(connection) as queries:
        picks = [[p["name"] for p in r.data["recommendations"].pick(count=2)] for r in recipients]

    assert (len(queries.captured_queries), picks) == (0, [["Cap"]] * 3)
