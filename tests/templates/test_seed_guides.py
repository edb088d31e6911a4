"""The marketer's examples from the seed guides, each rendered for a customer who has the
data it needs and one who does not: recommendations or popular products, a thank-you or
trending products by order count, an offer for high-value customers, a greeting by the
hour where the customer is, money and dates in their locale, fallbacks, content blocks
with arguments, and the recommend filter's count, category and price. The starter
templates (written from the same guides) render them together."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailTemplate
from campaigns.templating.selectors import template_preview, template_preview_profile
from campaigns.templating.starters import starter_templates_install
from tests.factories import ContentBlockFactory, CustomerFactory, TraitsFactory
from tests.templates.support import (
    catalog,
    consenting,
    main,
    ordered,
    products_in_text,
    rendered_for,
    scored,
    version_of,
    viewed,
)

pytestmark = pytest.mark.django_db

SHOES, HATS = "Shoes", "Hats"


@pytest.fixture
def shop(db):
    """Four products other shoppers viewed over the last days: popular, best first, and nothing trending."""
    products = catalog(
        ("BOOT", "Boots", SHOES, "120.00"),
        ("SNKR", "Sneakers", SHOES, "80.00"),
        ("CAP", "Cap", HATS, "25.00"),
        ("BEAN", "Beanie", HATS, "19.00"),
    )
    viewed({"BOOT": 5, "SNKR": 4, "CAP": 3, "BEAN": 2})
    return products


# --- "if recommendations, show them, else show popular products" -----------------------------

PICKS_OR_POPULAR = (
    "{% assign picks = recommendations | recommend: 3 %}"
    "{% if picks.size > 0 %}For you: {% for p in picks %}{{ p.name }};{% endfor %}"
    "{% else %}Popular: {% for p in products.popular %}{{ p.name }};{% endfor %}{% endif %}"
)


def test_a_customer_with_recommendations_sees_them(shop):
    hat_fan = consenting()
    TraitsFactory(customer=hat_fan, favorite_categories=[HATS])

    assert main(rendered_for(version_of(PICKS_OR_POPULAR), hat_fan)) == "For you: Cap;Beanie;"


def test_a_customer_without_recommendations_sees_the_popular_products(shop):
    not_consenting = CustomerFactory()

    assert main(rendered_for(version_of(PICKS_OR_POPULAR), not_consenting)) == "Popular: Boots;Sneakers;Cap;Beanie;"


def test_recommendations_compared_with_empty_tell_who_has_none(shop):
    version = version_of(
        "{% if recommendations != empty %}For you: {% for p in recommendations limit: 2 %}{{ p.name }};{% endfor %}"
        "{% else %}Popular: {{ products.popular.first.name }}{% endif %}"
    )

    assert main(rendered_for(version, consenting())) == "For you: Boots;Sneakers;"
    assert main(rendered_for(version, CustomerFactory())) == "Popular: Boots"


def test_recommendations_leave_out_what_the_customer_bought(shop):
    buyer = consenting()
    ordered(buyer, "BOOT")

    assert main(rendered_for(version_of(PICKS_OR_POPULAR), buyer)) == "For you: Sneakers;Cap;Beanie;"


# --- "thank you for your recent purchase" or "discover trending products" -----------------------

THANKS_OR_TRENDING = (
    "{% if customer.traits.order_count > 0 %}Thank you for your recent purchase!"
    "{% else %}Discover trending products: {% for p in products.trending %}{{ p.name }};{% endfor %}{% endif %}"
)


@pytest.fixture
def trending(shop):
    """Beanies, then caps, viewed this last hour: what is trending."""
    viewed({"BEAN": 2, "CAP": 1}, ago=timedelta(hours=1))


def test_a_customer_with_orders_is_thanked(trending):
    buyer = consenting()
    TraitsFactory(customer=buyer, order_count=2)

    assert main(rendered_for(version_of(THANKS_OR_TRENDING), buyer)) == "Thank you for your recent purchase!"


def test_a_customer_with_no_order_is_shown_what_is_trending(trending):
    browser = consenting()
    TraitsFactory(customer=browser, order_count=0)

    assert main(rendered_for(version_of(THANKS_OR_TRENDING), browser)) == "Discover trending products: Beanie;Cap;"


def test_a_customer_with_no_traits_yet_is_shown_what_is_trending(trending):
    assert main(rendered_for(version_of(THANKS_OR_TRENDING), consenting())) == "Discover trending products: Beanie;Cap;"


# --- "exclusive offers for high-value customers" -------------------------------------------

OFFER = (
    "{% if customer.scores.purchase_30d >= 70 or customer.traits.rfm.monetary >= 4 %}"
    "Exclusive offer: free express shipping.{% else %}See what is new.{% endif %}"
)


def test_a_customer_likely_to_buy_gets_the_exclusive_offer(db):
    likely = consenting()
    scored(likely, 85)

    assert main(rendered_for(version_of(OFFER), likely)) == "Exclusive offer: free express shipping."


def test_a_customer_who_spends_much_gets_the_exclusive_offer(db):
    big_spender = consenting()
    TraitsFactory(customer=big_spender, rfm_monetary=5)

    assert main(rendered_for(version_of(OFFER), big_spender)) == "Exclusive offer: free express shipping."


def test_a_customer_unlikely_to_buy_does_not(db):
    unlikely = consenting()
    scored(unlikely, 40)
    TraitsFactory(customer=unlikely, rfm_monetary=2)

    assert main(rendered_for(version_of(OFFER), unlikely)) == "See what is new."


def test_a_customer_without_scores_does_not(db):
    assert main(rendered_for(version_of(OFFER), consenting())) == "See what is new."


# --- a greeting by the time of day where the customer is ----------------------------------------

NOON_IN_LONDON = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "greeting"),
    [
        ("America/New_York", "Good morning, Ana"),  # 07:30
        ("Europe/Paris", "Good afternoon, Ana"),  # 13:30
        ("Asia/Tokyo", "Good evening, Ana"),  # 21:30
    ],
)
def test_the_greeting_follows_the_hour_in_the_customers_time_zone(db, zone, greeting):
    customer = CustomerFactory(first_name="Ana", timezone=zone)

    rendered = rendered_for(version_of("{{ customer.first_name | greeting }}"), customer, now=NOON_IN_LONDON)

    assert main(rendered) == greeting


def test_the_greeting_without_a_first_name_is_the_words_alone(db):
    customer = CustomerFactory(first_name="", timezone="Europe/Paris")

    assert main(rendered_for(version_of("{{ customer.first_name | greeting }}!"), customer)) == "Good morning!"


# --- money and dates in the customer's locale ---------------------------------------------

MONEY_AND_DATE = (
    "{{ 1234.5 | money: 'EUR' }} / {{ customer.traits.lifetime_value | money }} / "
    "{{ customer.traits.last_order_at | local_date: 'long' }}"
)
LATE_ON_HALLOWEEN = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)


def test_money_and_dates_in_german_for_a_customer_in_berlin(db):
    customer = consenting(locale="de-DE", timezone="Europe/Berlin")
    TraitsFactory(customer=customer, revenue="99.90", last_order_at=LATE_ON_HALLOWEEN)

    assert main(rendered_for(version_of(MONEY_AND_DATE), customer)) == "1.234,50 € / 99,90 $ / 1. November 2026"


def test_money_and_dates_in_american_english_for_a_customer_in_new_york(db):
    customer = consenting(locale="en-US", timezone="America/New_York")
    TraitsFactory(customer=customer, revenue="99.90", last_order_at=LATE_ON_HALLOWEEN)

    assert main(rendered_for(version_of(MONEY_AND_DATE), customer)) == "€1,234.50 / $99.90 / October 31, 2026"


def test_a_product_price_shows_in_the_products_currency(shop):
    version = version_of("{{ products.popular.first.price | money: products.popular.first.currency }}")

    assert main(rendered_for(version, CustomerFactory(locale="fr-FR"))) == "120,00 $US"


def test_a_date_the_customer_does_not_have_prints_nothing(db):
    customer = consenting(locale="de-DE")

    assert main(rendered_for(version_of("[{{ customer.traits.last_order_at | local_date }}]"), customer)) == "[]"


# --- default fallbacks ---------------------------------------------------------------------


def test_default_shows_the_value_when_there_is_one(db):
    customer = CustomerFactory(first_name="Ana")

    assert main(rendered_for(version_of("Hi {{ customer.first_name | default: 'there' }},"), customer)) == "Hi Ana,"


def test_default_shows_the_fallback_when_the_value_is_empty(db):
    customer = CustomerFactory(first_name="")

    assert main(rendered_for(version_of("Hi {{ customer.first_name | default: 'there' }},"), customer)) == "Hi there,"


def test_default_shows_the_fallback_for_data_the_customer_does_not_have(db):
    version = version_of("{{ customer.attributes.nickname | default: customer.first_name }}")

    assert main(rendered_for(version, CustomerFactory(first_name="Ana", attributes={"nickname": "Annie"}))) == "Annie"
    assert main(rendered_for(version, CustomerFactory(first_name="Ana", attributes={}))) == "Ana"


# --- content blocks with arguments -----------------------------------------------------------


def test_a_block_renders_with_the_arguments_it_is_given(shop):
    ContentBlockFactory(name="product-line", source="<b>{{ product.name }}</b> {{ product.price | money }}{{ note }}")
    version = version_of(
        "{% for p in products.popular limit: 2 %}{% render 'product-line', product: p, note: '!' %} {% endfor %}"
    )

    assert main(rendered_for(version, CustomerFactory())) == "<b>Boots</b> $120.00! <b>Sneakers</b> $80.00!"


def test_a_block_sees_the_recipients_data_without_being_given_it(db):
    ContentBlockFactory(name="hello", source="Hello {{ customer.first_name }}")

    assert main(rendered_for(version_of("{% render 'hello' %}!"), CustomerFactory(first_name="Ana"))) == "Hello Ana!"


def test_blocks_render_blocks(db):
    ContentBlockFactory(name="sign-off", source="{% render 'signature', team: 'the Demo Store team' %}")
    ContentBlockFactory(name="signature", source="Best, {{ team }}")

    assert main(rendered_for(version_of("{% render 'sign-off' %}"), CustomerFactory())) == "Best, the Demo Store team"


# --- the recommend filter: count, category, max_price ------------------------------------------


@pytest.fixture
def fan(shop):
    """A consenting customer with no favorite categories: recommended what is popular, best first."""
    return consenting()


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ("2", "Boots;Sneakers;"),
        ("10", "Boots;Sneakers;Cap;Beanie;"),
        ("4, category: 'Hats'", "Cap;Beanie;"),
        ("4, max_price: 80", "Sneakers;Cap;Beanie;"),
        ("1, category: 'Shoes', max_price: 100", "Sneakers;"),
        ("4, category: 'Bags'", ""),
    ],
)
def test_recommend_picks_the_count_category_and_price_asked(fan, arguments, names):
    version = version_of(
        f"{{% assign picks = recommendations | recommend: {arguments} %}}"
        "{% for p in picks %}{{ p.name }};{% endfor %}"
    )

    assert main(rendered_for(version, fan)) == names


def test_recommend_shows_each_products_fields(fan):
    version = version_of(
        "{% assign picks = recommendations | recommend: 1 %}"
        "{% for p in picks %}{{ p.sku }} {{ p.name }} {{ p.category }} {{ p.price }}{% endfor %}"
    )

    assert main(rendered_for(version, fan)) == "BOOT Boots Shoes 120.00"


# --- the starter templates, written from these guides ---------------------------------------


@pytest.fixture
def starters(shop):
    starter_templates_install()
    return {t.name: t.current_version for t in EmailTemplate.objects.all()}


def text_of(rendered) -> str:
    return " ".join(rendered.text.split())


def test_picked_for_you_thanks_a_buyer_and_shows_their_picks(starters):
    buyer = consenting(first_name="Ana", timezone="Europe/Paris")
    TraitsFactory(customer=buyer, order_count=3, favorite_categories=[HATS])

    rendered = rendered_for(starters["Picked for you"], buyer)

    assert rendered.subject == "Ana, picked for you this week"
    assert rendered.preheader == "More like what you bought"
    assert "Good morning, Ana!" in text_of(rendered)
    assert "Thank you for your recent purchase." in text_of(rendered)
    assert products_in_text(rendered) == ["Cap", "Beanie"]


def test_picked_for_you_shows_a_newcomer_what_is_popular(starters):
    newcomer = CustomerFactory(first_name="", timezone="Europe/Paris")

    rendered = rendered_for(starters["Picked for you"], newcomer)

    assert rendered.subject == "Picked for you this week"
    assert rendered.preheader == "Trending at Demo Store"
    assert "Discover what is trending at Demo Store this week." in text_of(rendered)
    assert "Exclusive for you" not in rendered.html
    assert products_in_text(rendered) == ["Boots", "Sneakers", "Cap", "Beanie"]


def test_picked_for_you_offers_free_shipping_to_a_customer_likely_to_buy(starters):
    likely = consenting()
    scored(likely, 90)

    assert "Exclusive for you: free express shipping on your next order." in text_of(
        rendered_for(starters["Picked for you"], likely)
    )


def test_we_miss_you_names_the_last_order_and_the_favorite_category(starters):
    lapsed = consenting(first_name="Ana", locale="en-US", timezone="Europe/Paris")
    TraitsFactory(customer=lapsed, favorite_categories=[HATS], last_order_at=timezone.now() - timedelta(days=40))

    rendered = rendered_for(starters["We miss you"], lapsed, now=timezone.now())

    assert rendered.subject == "Ana, it has been a while"
    assert "It has been 40 days since your last order" in text_of(rendered)
    assert "New in Hats:" in text_of(rendered)
    assert products_in_text(rendered) == ["Cap", "Beanie"]


def test_we_miss_you_without_data_says_it_has_been_a_while(starters, trending):
    stranger = CustomerFactory(first_name="")

    rendered = rendered_for(starters["We miss you"], stranger)

    assert rendered.subject == "Hello, it has been a while"
    assert "Hi there," in text_of(rendered)
    assert "It has been a while. A lot has changed since your last visit." in text_of(rendered)
    assert products_in_text(rendered) == ["Beanie", "Cap"]


# --- a made-up profile, to try the guides on data nobody has yet -----------------------------------


def test_a_made_up_profile_with_orders_is_thanked(trending):
    rendered = template_preview_profile(version=version_of(THANKS_OR_TRENDING), profile={"traits": {"order_count": 2}})

    assert main(rendered) == "Thank you for your recent purchase!"


def test_a_made_up_profile_without_orders_is_shown_what_is_trending(trending):
    rendered = template_preview_profile(version=version_of(THANKS_OR_TRENDING), profile={"first_name": "Ana"})

    assert main(rendered) == "Discover trending products: Beanie;Cap;"


def test_a_made_up_profiles_recommendations_are_picked_as_a_customers_are(db):
    made_up = [
        {"name": "Boots", "category": SHOES, "price": "120.00"},
        {"name": "Cap", "category": HATS, "price": "25.00"},
        {"name": "Beanie", "category": HATS, "price": "19.00"},
    ]
    version = version_of(
        "{% assign picks = recommendations | recommend: 4, category: 'Hats', max_price: 20 %}"
        "{% for p in picks %}{{ p.name }};{% endfor %}"
    )

    assert main(template_preview_profile(version=version, profile={"recommendations": made_up})) == "Beanie;"


def test_a_made_up_profile_shows_the_date_and_money_as_a_customers_render_does(db, settings):
    settings.SHOP_CURRENCY = "EUR"
    version = version_of("{{ now | local_date: 'long' }} / {{ 5 | money }}")
    customer = CustomerFactory(locale="en-US", timezone="UTC")

    as_customer = main(template_preview(version=version, customer=customer))
    as_profile = main(template_preview_profile(version=version, profile={"locale": "en-US", "timezone": "UTC"}))

    assert as_profile == as_customer
    assert re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4} / €5\.00", as_profile)
