"""Personalization consent decides what a template sees of a customer's behavior. The
suite runs under the default regime, opt-in: without a yes on record (or after it is
withdrawn) traits, scores, segments and recommendations are empty, so the template's
fallback content shows and the render says it was not personalized; profile fields
(name, locale) are not behavior and stay."""

from datetime import UTC, datetime

import pytest
from django.conf import settings

from campaigns.templating.selectors import templates_render
from tests.factories import CustomerFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory
from tests.recommendations.support import personalization_grant, personalization_withdraw
from tests.templates.support import catalog, main, rendered_for, scored, version_of, viewed

pytestmark = pytest.mark.django_db

EVERYTHING_PERSONAL = (
    "{% if customer.traits.order_count > 0 %}Welcome back{% else %}Welcome{% endif %}"
    "|{% if customer.scores.purchase_30d >= 70 %}Offer{% else %}No offer{% endif %}"
    "|{% for s in customer.segments %}{{ s }};{% else %}no segment{% endfor %}"
    "|{% assign picks = recommendations | recommend: 2 %}"
    "{% if picks.size > 0 %}For you: {% for p in picks %}{{ p.name }};{% endfor %}"
    "{% else %}Popular: {% for p in products.popular limit: 2 %}{{ p.name }};{% endfor %}{% endif %}"
)
PERSONAL = "Welcome back|Offer|VIP;|For you: Cap;Beanie;"
FALLBACK = "Welcome|No offer|no segment|Popular: Boots;Sneakers;"


@pytest.fixture
def version(db):
    catalog(("BOOT", "Boots", "Shoes", "120.00"), ("SNKR", "Sneakers", "Shoes", "80.00"),
            ("CAP", "Cap", "Hats", "25.00"), ("BEAN", "Beanie", "Hats", "19.00"))  # fmt: skip
    viewed({"BOOT": 5, "SNKR": 4, "CAP": 3, "BEAN": 2})
    return version_of(EVERYTHING_PERSONAL)


@pytest.fixture
def regular(db):
    """A customer with every kind of behavior-based data: orders, a high score, a segment, a favorite category."""
    customer = CustomerFactory(first_name="Ana")
    TraitsFactory(customer=customer, order_count=4, favorite_categories=["Hats"])
    scored(customer, 90)
    SegmentMembershipFactory(customer=customer, segment=SegmentFactory(name="VIP"))
    return customer


def test_the_suite_runs_under_the_opt_in_regime():
    assert settings.CONSENT_REGIME == "opt-in"


def test_without_a_yes_on_record_the_fallback_content_shows(version, regular):
    rendered = rendered_for(version, regular)

    assert main(rendered) == FALLBACK
    assert rendered.personalized is False


def test_with_a_yes_on_record_the_personal_content_shows(version, regular):
    personalization_grant(regular)

    rendered = rendered_for(version, regular)

    assert main(rendered) == PERSONAL
    assert rendered.personalized is True


def test_after_a_withdrawal_the_fallback_content_shows_again(version, regular, django_capture_on_commit_callbacks):
    personalization_grant(regular)
    assert main(rendered_for(version, regular)) == PERSONAL

    with django_capture_on_commit_callbacks(execute=True):  # as the consent change is announced when committed
        personalization_withdraw(regular)

    rendered = rendered_for(version, regular)
    assert main(rendered) == FALLBACK
    assert rendered.personalized is False


def test_a_grant_after_a_withdrawal_personalizes_again(version, regular):
    personalization_grant(regular)
    personalization_withdraw(regular)
    personalization_grant(regular)

    assert main(rendered_for(version, regular)) == PERSONAL


def test_without_consent_traits_read_as_missing(version, regular):
    rendered = rendered_for(version_of("[{{ customer.traits.order_count }}]"), regular)

    assert main(rendered) == "[]"
    assert rendered.notes.missing == ["customer.traits.order_count"]


def test_without_consent_the_profile_still_shows(db):
    customer = CustomerFactory(first_name="Ana", locale="de-DE")

    rendered = rendered_for(
        version_of("{{ customer.first_name }} {{ customer.locale }} {{ 5 | money: 'EUR' }}"), customer
    )

    assert (main(rendered), rendered.personalized) == ("Ana de-DE 5,00 €", False)


def test_consent_is_decided_for_each_recipient_of_a_batch(version, regular):
    other = CustomerFactory()
    TraitsFactory(customer=other, order_count=1, favorite_categories=["Hats"])
    scored(other, 95)
    personalization_grant(other)

    rendered = templates_render(version=version, customers=[regular, other])

    assert [(main(r), r.personalized) for r in rendered] == [
        (FALLBACK, False),
        ("Welcome back|Offer|no segment|For you: Cap;Beanie;", True),
    ]


def test_a_segment_left_is_not_shown(version, regular):
    personalization_grant(regular)
    SegmentMembershipFactory(
        customer=regular,
        segment=SegmentFactory(name="Window shoppers"),
        exited_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    )

    assert main(rendered_for(version_of("{{ customer.segments | join: ', ' }}"), regular)) == "VIP"
