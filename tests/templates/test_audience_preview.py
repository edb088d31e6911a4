"""The audience preview renders a version for a sample of customers and counts what
happened, and each count matches a count by hand: renders, failures, renders that were
not personalized, fallbacks shown, variables missing (for exactly whom) and branches taken."""

from collections import Counter

import pytest

from campaigns.templating.selectors import template_audience_preview
from tests.factories import CustomerFactory, TraitsFactory
from tests.recommendations.support import personalization_grant
from tests.templates.support import version_of

pytestmark = pytest.mark.django_db

CONDITION = "customer.traits.order_count > 0"
# The if on line 1 of the HTML; the text part generated from it has it on line 1 too.
TEMPLATE = (
    f"{{% if {CONDITION} %}}Thanks for your orders{{% else %}}Discover{{% endif %}}, "
    "{{ customer.first_name | default: 'friend' }}"
)


@pytest.fixture
def sample(db):
    """Seven customers: three who ordered, four who did not (or whose orders the template may not see).

    | #  | consent | traits        | first name |
    | a  | yes     | 2 orders      | Ana        |
    | b  | yes     | 1 order       | (none)     |
    | c  | yes     | 5 orders      | Cy         |
    | d  | yes     | 0 orders      | Dee        |
    | e  | yes     | no traits yet | (none)     |
    | f  | no      | 3 orders      | Fay        |
    | g  | no      | no traits yet | Gus        |
    """
    rows = [
        ("Ana", True, 2), ("", True, 1), ("Cy", True, 5), ("Dee", True, 0), ("", True, None),
        ("Fay", False, 3), ("Gus", False, None),
    ]  # fmt: skip
    customers = []
    for first_name, consents, orders in rows:
        customer = CustomerFactory(first_name=first_name)
        if orders is not None:
            TraitsFactory(customer=customer, order_count=orders)
        if consents:
            personalization_grant(customer)
        customers.append(customer)
    return customers


def html_branches(preview) -> Counter:
    """The branches taken in the HTML part (the text part generated from it takes the same)."""
    return Counter({key[1:]: count for key, count in preview.branches.items() if key[0] == "html"})


def test_branches_are_counted_per_part(sample):
    preview = template_audience_preview(version=version_of(TEMPLATE), customers=sample)

    assert {part for part, *_ in preview.branches} == {"html", "text"}


@pytest.fixture
def preview(sample):
    return template_audience_preview(version=version_of(TEMPLATE), customers=sample)


def test_every_customer_of_the_sample_is_rendered(preview):
    assert (preview.rendered, preview.failed) == (7, {})


def test_the_branch_counts_are_the_customers_the_template_sees_with_orders(preview):
    # f ordered, but without consent the template does not see it.
    assert html_branches(preview) == Counter({(1, CONDITION, "if"): 3, (1, CONDITION, "else"): 4})


def test_the_fallback_count_is_the_customers_without_a_first_name(preview):
    assert preview.fallbacks == Counter({"friend": 2})


def test_a_missing_variable_names_exactly_the_customers_it_was_missing_for(sample, preview):
    *_, e, f, g = sample

    # d has traits (no orders), so the count is there; e has none yet; f and g did not consent.
    assert preview.missing == {"customer.traits.order_count": [e.pk, f.pk, g.pk]}


def test_not_personalized_counts_the_customers_without_consent(preview):
    assert preview.not_personalized == 2


def test_a_failed_render_is_reported_for_its_customer_and_left_out_of_the_counts(sample):
    runaway = CustomerFactory(first_name="", attributes={"n": 100_000})
    version = version_of(TEMPLATE + "{% for i in (1..customer.attributes.n) %}{% endfor %}")

    preview = template_audience_preview(version=version, customers=[*sample, runaway])

    assert preview.failed == {runaway.pk: "The html part went past a limit: loop iteration limit reached."}
    assert (preview.rendered, preview.not_personalized) == (7, 2)
    assert preview.fallbacks == Counter({"friend": 2})
    assert preview.missing == {
        "customer.traits.order_count": [c.pk for c in sample[4:]],
        "customer.attributes.n": [c.pk for c in sample],  # the runaway's render failed: not counted
    }


def test_a_fallback_shown_twice_in_one_render_counts_once(sample):
    version = version_of(
        "{{ customer.first_name | default: 'friend' }} and {{ customer.last_name | default: 'friend' }}"
    )
    nameless = CustomerFactory(first_name="", last_name="")

    preview = template_audience_preview(version=version, customers=[nameless])

    assert preview.fallbacks == Counter({"friend": 1})


def test_elsif_branches_are_counted_by_which_one_was_taken(sample):
    condition = "customer.traits.order_count >= 5"
    version = version_of(
        f"{{% if {condition} %}}Loyal{{% elsif customer.traits.order_count > 0 %}}Returning{{% else %}}New{{% endif %}}"
    )

    preview = template_audience_preview(version=version, customers=sample)

    assert html_branches(preview) == Counter(
        {(1, condition, "if"): 1, (1, condition, "elsif 1"): 2, (1, condition, "else"): 4}
    )


def test_an_if_with_no_branch_taken_counts_as_none(sample):
    version = version_of("{% if customer.traits.order_count > 4 %}Loyal{% endif %}")

    preview = template_audience_preview(version=version, customers=sample)

    assert html_branches(preview) == Counter({(1, "customer.traits.order_count > 4", "if"): 1,
                                        (1, "customer.traits.order_count > 4", "none"): 6})  # fmt: skip


def test_a_loop_is_not_reported_as_missing_data(sample):
    # Liquid looks for an enclosing loop of every loop it runs; there is none, and that is no missing data.
    version = version_of(
        "{% for i in (1..2) %}{% for j in (1..2) %}{{ forloop.parentloop.index }}{% endfor %}{% endfor %}"
    )

    preview = template_audience_preview(version=version, customers=sample)

    assert (preview.rendered, preview.missing) == (7, {})
