"""Validation before a template is saved: syntax errors with their line and column;
variables, fields and filters that cannot resolve, and content blocks that do not exist,
each where it is written; marketing email without an unsubscribe link or the shop's
postal address (wherever they come from, a block too); every problem at once. A template
that is refused saves nothing: no draft, no version."""

import pytest

from campaigns.models import EmailTemplate, MessageKind, TemplateVersion
from campaigns.templating.services import block_save, template_save
from core.errors import ValidationError
from tests.factories import ContentBlockFactory, EmailTemplateFactory
from tests.templates.support import FOOTER, page, version_of

pytestmark = pytest.mark.django_db


def problems(**fields) -> list[dict]:
    """The problems a new template with these fields is refused for."""
    with pytest.raises(ValidationError) as refused:
        template_save(template=EmailTemplateFactory.build(**fields))
    return refused.value.details["problems"]


def problem(part: str, line: int, column: int, message: str) -> dict:
    return {"part": part, "line": line, "column": column, "message": message}


# --- syntax --------------------------------------------------------------------------------


def test_a_syntax_error_is_reported_with_its_line_and_column(db):
    html = page("\n<p>Hello</p>\n<p>{% if customer.first_name %}Hi{% endfi %}</p>\n")

    assert problems(html=html) == [problem("html", 3, 37, "unexpected tag 'endfi'")]


def test_an_unknown_tag_is_reported_where_it_is(db):
    assert problems(html=page("\n\n  {% iff customer.first_name %}Hi")) == [
        problem("html", 3, 6, "unexpected tag 'iff'")
    ]


def test_a_syntax_error_in_the_subject_names_the_subject(db):
    assert problems(subject="Hi {{ customer.first_name") == [
        problem("subject", 1, 4, "expected '}}', found end of file")
    ]


def test_a_syntax_error_in_a_written_text_part_names_the_text(db):
    text = "Hello\n{% if %}you{% endif %}\n{{ links.unsubscribe }}"

    assert problems(text=text) == [problem("text", 2, 4, "missing expression")]


# --- unknown variables, fields and filters ----------------------------------------------------


def test_an_unknown_variable_is_flagged_where_it_is(db):
    html = page("\n  {{ user.name }}")

    [found] = problems(html=html)
    assert (found["part"], found["line"], found["column"]) == ("html", 2, 6)
    assert found["message"].startswith("unknown variable 'user': templates can use customer, recommendations")


def test_an_unknown_field_of_the_customer_is_flagged_with_the_fields_there_are(db):
    [found] = problems(html=page("{{ customer.nickname }}"))

    assert (found["line"], found["column"]) == (1, 35)
    assert found["message"] == (
        "'customer' has no field 'nickname' (fields: id, email, first_name, last_name, full_name, timezone, "
        "locale, attributes, traits, scores, segments)"
    )


def test_an_unknown_trait_is_flagged(db):
    assert problems(html=page("{{ customer.traits.orders }}")) == [
        problem("html", 1, 35, "'customer.traits' has no field 'orders'")
    ]


def test_an_unknown_field_of_a_product_list_is_flagged(db):
    assert problems(html=page("{{ products.bestsellers.first.name }}")) == [
        problem("html", 1, 35, "'products' has no field 'bestsellers' (fields: popular, trending)")
    ]


def test_an_unknown_field_of_a_listed_product_is_flagged(db):
    assert problems(html=page("{{ products.popular[0].title }}")) == [
        problem("html", 1, 35, "a product has no field 'title'")
    ]


def test_an_unknown_link_is_flagged(db):
    assert problems(html=page("{{ links.unsubscribe_all }}")) == [
        problem(
            "html", 1, 35, "'links' has no field 'unsubscribe_all' (fields: unsubscribe, preferences, view_in_browser)"
        )
    ]


def test_an_unknown_filter_is_flagged_where_it_is(db):
    assert problems(html=page("{{ customer.first_name | shout }}")) == [
        problem("html", 1, 57, "unknown filter 'shout'")
    ]


def test_a_variable_of_the_template_itself_is_not_unknown(db):
    version = version_of(
        "{% assign name = customer.first_name | upcase %}{{ name }}"
        "{% for p in products.popular %}{{ p.name }}{% endfor %}"
    )

    assert version.number == 1


def test_the_customers_own_attributes_may_be_any(db):
    assert version_of("{{ customer.attributes.plan }} {{ customer.attributes.anything.at_all }}").number == 1


# --- content blocks ----------------------------------------------------------------------


def test_an_unknown_content_block_is_flagged(db):
    assert problems(html=page("{% render 'hero' %}")) == [problem("html", 1, 42, "no content block named 'hero'")]


def test_a_problem_inside_a_block_is_reported_in_the_block(db):
    ContentBlockFactory(name="hello", source="<p>\nHello {{ customer.first_name | shout }}</p>")

    assert problems(html=page("{% render 'hello' %}")) == [problem("block:hello", 2, 32, "unknown filter 'shout'")]


def test_a_blocks_variable_that_the_caller_does_not_pass_is_unknown(db):
    ContentBlockFactory(name="card", source="{{ product.name }}")

    [found] = problems(html=page("{% render 'card' %}"))
    assert (found["part"], found["line"], found["column"]) == ("block:card", 1, 4)
    assert found["message"].startswith("unknown variable 'product'")


def test_a_block_that_does_not_parse_is_not_saved(db):
    with pytest.raises(ValidationError) as refused:
        block_save(block=ContentBlockFactory.build(name="broken", source="<p>\n{% if %}</p>"))

    assert refused.value.details["problems"] == [problem("source", 2, 4, "missing expression")]


# --- what marketing email requires -------------------------------------------------------------

NO_UNSUBSCRIBE = "marketing email needs an unsubscribe link: {{ links.unsubscribe }}"
NO_ADDRESS = "marketing email needs the shop's postal address: {{ shop.address }}"


def test_marketing_email_without_an_unsubscribe_link_is_refused(db):
    assert problems(html=page("Hi", footer="<p>{{ shop.address }}</p>")) == [problem("html", 1, 1, NO_UNSUBSCRIBE)]


def test_marketing_email_without_the_postal_address_is_refused(db):
    assert problems(html=page("Hi", footer='<a href="{{ links.unsubscribe }}">Unsubscribe</a>')) == [
        problem("html", 1, 1, NO_ADDRESS)
    ]


def test_marketing_email_with_neither_is_refused_for_both(db):
    assert problems(html=page("Hi", footer="")) == [
        problem("html", 1, 1, NO_UNSUBSCRIBE),
        problem("html", 1, 1, NO_ADDRESS),
    ]


def test_a_written_text_part_of_marketing_email_needs_its_own_unsubscribe_link(db):
    assert problems(text="Hi {{ customer.first_name }}") == [problem("text", 1, 1, NO_UNSUBSCRIBE)]


def test_the_unsubscribe_link_and_the_address_may_come_from_a_block(db):
    ContentBlockFactory(name="footer", source=FOOTER)

    version = version_of(html=page("Hi", footer="{% render 'footer' %}"))

    assert version.blocks == {"footer": FOOTER}


def test_they_may_come_from_a_block_that_a_block_renders(db):
    ContentBlockFactory(name="layout-end", source="<hr>{% render 'footer' %}")
    ContentBlockFactory(name="footer", source=FOOTER)

    version = version_of(html=page("Hi", footer="{% render 'layout-end' %}"))

    assert set(version.blocks) == {"layout-end", "footer"}


def test_a_block_without_them_does_not_make_marketing_email_acceptable(db):
    ContentBlockFactory(name="footer", source="<p>Thanks for reading</p>")

    assert problems(html=page("Hi", footer="{% render 'footer' %}")) == [
        problem("html", 1, 1, NO_UNSUBSCRIBE), problem("html", 1, 1, NO_ADDRESS),
    ]  # fmt: skip


def test_a_mere_mention_is_not_a_link(db):
    # Named in words, not used: only the variable counts.
    html = page("Hi", footer="<p>links.unsubscribe shop.address</p>")

    assert [p["message"] for p in problems(html=html)] == [NO_UNSUBSCRIBE, NO_ADDRESS]


def test_transactional_email_needs_neither(db):
    version = version_of(html=page("Your order has shipped.", footer=""), kind=MessageKind.TRANSACTIONAL)

    assert (version.number, version.kind) == (1, MessageKind.TRANSACTIONAL)


def test_every_problem_is_reported_at_once(db):
    found = problems(
        subject="{{ customer.nick }}", html=page("{{ customer.first_name | shout }}{% render 'nope' %}", footer="")
    )

    assert [(p["part"], p["message"].split(" (")[0]) for p in found] == [
        ("subject", "'customer' has no field 'nick'"),
        ("html", "no content block named 'nope'"),
    ]


def test_the_message_lists_every_problem_with_where_it_is(db):
    with pytest.raises(ValidationError) as refused:
        template_save(template=EmailTemplateFactory.build(html=page("{{ customer.first_name | shout }}", footer="")))

    assert refused.value.message == (
        "The template has 3 problems: html, line 1, column 57: unknown filter 'shout'; "
        f"html, line 1, column 1: {NO_UNSUBSCRIBE}; html, line 1, column 1: {NO_ADDRESS}"
    )


# --- nothing is saved when refused -------------------------------------------------------------


def test_a_refused_new_template_saves_no_draft_and_no_version(db):
    problems(html=page("{{ nope }}"))

    assert not EmailTemplate.objects.exists()
    assert not TemplateVersion.objects.exists()


def test_a_refused_change_keeps_the_saved_draft_and_its_version(db):
    template = EmailTemplateFactory.build(subject="Welcome")
    first = template_save(template=template)

    template.subject = "{{ customer.nick }}"
    with pytest.raises(ValidationError):
        template_save(template=template)

    template.refresh_from_db()
    assert (template.subject, template.current_version) == ("Welcome", first)
    assert list(TemplateVersion.objects.values_list("number", flat=True)) == [1]
