"""A content block rendered for many recipients is rendered once per distinct input and
reused (campaigns/templating/blocks.py): every recipient still gets exactly what a render
of their own would give, notes included, and the limits still hold."""

import pytest

from campaigns.templating.blocks import block_key_reads
from campaigns.templating.filters import CONTEXT_READS, REGISTRY
from campaigns.templating.sandbox import environment_for
from campaigns.templating.selectors import templates_render
from tests.factories import ContentBlockFactory, CustomerFactory
from tests.templates.support import boots_and_cap, main, version_of

pytestmark = pytest.mark.django_db

OUTPUT_LIMIT = "The html part went past a limit: output stream limit reached."


@pytest.fixture
def shop(db):
    boots_and_cap()


def rendered_main(version, customers) -> list[str]:
    rendered = templates_render(version=version, customers=customers)
    assert not any(r.error for r in rendered), [r.error for r in rendered]
    return [main(r) for r in rendered]


def test_a_reused_block_formats_money_in_each_recipients_locale(shop):
    ContentBlockFactory(name="price", source="{{ product.name }} {{ product.price | money }}")
    version = version_of("{% for p in products.popular limit: 1 %}{% render 'price', product: p %}{% endfor %}")
    customers = [CustomerFactory(locale=locale) for locale in ("en-US", "de-DE", "en-US", "fr-FR", "de-DE")]

    assert rendered_main(version, customers) == [  # main() shows the no-break spaces as spaces
        "Boots $120.00", "Boots 120,00 $", "Boots $120.00", "Boots 120,00 $US", "Boots 120,00 $",
    ]  # fmt: skip


def test_a_reused_product_link_carries_each_campaigns_own_tag(shop):
    ContentBlockFactory(name="link", source="{{ product | product_url }}")
    version = version_of("{% for p in products.popular limit: 1 %}{% render 'link', product: p %}{% endfor %}")
    customer = CustomerFactory()

    links = [main(templates_render(version=version, customers=[customer], campaign={"utm_campaign": tag})[0])
             for tag in ("spring", "autumn", "spring")]  # fmt: skip

    assert [link.rsplit("utm_campaign=", 1)[1] for link in links] == ["spring", "autumn", "spring"]


def test_a_block_that_reads_the_recipients_own_data_shows_each_their_own(db):
    ContentBlockFactory(name="hello", source="Hello {{ customer.first_name }}")
    customers = [CustomerFactory(first_name=name) for name in ("Ana", "Bo", "Ana", "Cy")]

    assert rendered_main(version_of("{% render 'hello' %}"), customers) == ["Hello Ana", "Hello Bo", "Hello Ana",
                                                                           "Hello Cy"]  # fmt: skip


def test_a_block_given_each_recipients_own_argument_shows_it(db):
    ContentBlockFactory(name="line", source="[{{ name | upcase }}]")
    customers = [CustomerFactory(first_name=name) for name in ("Ana", "Bo", "Ana")]

    version = version_of("{% render 'line', name: customer.first_name %}")

    assert rendered_main(version, customers) == ["[ANA]", "[BO]", "[ANA]"]


def test_values_that_are_equal_but_print_differently_are_not_mixed_up(db):
    ContentBlockFactory(name="show", source="[{{ value }}]")
    customers = [CustomerFactory(attributes={"n": n}) for n in (1, 1.0, True, 1, "1")]

    version = version_of("{% render 'show', value: customer.attributes.n %}")

    assert rendered_main(version, customers) == ["[1]", "[1.0]", "[true]", "[1]", "[1]"]


def test_missing_data_in_a_reused_block_is_noted_for_every_recipient(shop):
    ContentBlockFactory(name="card", source="{{ product.name }}{{ product.colour }}")
    version = version_of("{% for p in products.popular limit: 1 %}{% render 'card', product: p %}{% endfor %}")

    rendered = templates_render(version=version, customers=[CustomerFactory() for _ in range(3)])

    assert [r.notes.missing for r in rendered] == [["product.colour"]] * 3


def test_a_fallback_in_a_reused_block_is_counted_for_every_recipient(shop):
    ContentBlockFactory(name="card", source="{{ product.name }}: {{ product.tagline | default: 'new' }}")
    version = version_of("{% for p in products.popular limit: 2 %}{% render 'card', product: p %} {% endfor %}")

    rendered = templates_render(version=version, customers=[CustomerFactory() for _ in range(3)])

    assert [main(r) for r in rendered] == ["Boots: new Cap: new"] * 3
    assert [r.notes.fallbacks.count("new") for r in rendered] == [4, 4, 4]  # two products, in the HTML and text parts


def test_a_reused_block_still_counts_towards_the_output_limit(db):
    ContentBlockFactory(name="brick", source="z" * 300)

    version = version_of("{% for i in (1..4000) %}{% render 'brick' %}{% endfor %}")
    [rendered] = templates_render(version=version, customers=[CustomerFactory()])

    assert rendered.error == OUTPUT_LIMIT


def _reads(source: str) -> list[str]:
    environment = environment_for(blocks=(("block", source),), html=True)
    return [".".join(path) for path in block_key_reads(environment.get_template("block"))]


def test_a_block_is_keyed_on_what_it_reads_and_what_its_filters_read():
    assert _reads("{{ product.price | money }} {{ product | product_url }}") == [
        "campaign.utm_campaign", "currency", "locale", "product",
    ]  # fmt: skip


def test_a_variable_read_whole_keys_the_block_once():
    assert _reads("{{ campaign.name }} {{ product | product_url }}") == ["campaign", "product"]


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in items %}{{ i }}{% endfor %}",  # loops count against the render's limit where they run
        "{% render 'other' %}",  # a nested render has its own scope and limits
        "{{ 'now' | date: '%H:%M' }}",  # reads the clock
    ],
)
def test_a_block_that_loops_nests_or_reads_the_clock_is_always_rendered_in_full(source):
    assert _reads(source) == []


def test_every_filter_that_reads_the_render_says_what_it_reads():
    reading = {name for name, function in REGISTRY.items() if getattr(function, "with_context", False)}

    assert reading == set(CONTEXT_READS)
