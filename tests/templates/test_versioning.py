"""Versions: every accepted change of a template is a new numbered version and an
unchanged save keeps the current one; a version keeps its blocks as they were when it
was saved; versions are never changed; and what a version stores is what renders: MJML
compiled, CSS inlined into style attributes, a text part generated when none is written."""

import pytest

from campaigns.models import MessageKind, SourceFormat, TemplateVersion
from campaigns.templating.services import block_save, template_save
from core.append_only import AppendOnlyViolation
from core.errors import ValidationError
from tests.factories import ContentBlockFactory, CustomerFactory, EmailTemplateFactory
from tests.templates.support import ADDRESS, FOOTER, SHOP_URL, main, page, rendered_for, version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    """A template's draft, saved once: version 1."""
    template = EmailTemplateFactory.build(subject="Hello", html=page("First"))
    template_save(template=template, actor="mark")
    return template


def numbers(template) -> list[int]:
    return list(TemplateVersion.objects.filter(template=template).order_by("number").values_list("number", flat=True))


# --- numbered versions ---------------------------------------------------------------------------


def test_the_first_save_makes_version_1(template):
    version = template.current_version

    assert (version.number, version.subject, version.html_source, version.created_by) == (
        1,
        "Hello",
        page("First"),
        "mark",
    )


def test_each_accepted_change_makes_the_next_version(template):
    template.html = page("Second")
    second = template_save(template=template)
    template.subject = "Hello again"
    third = template_save(template=template)

    assert (second.number, third.number) == (2, 3)
    assert numbers(template) == [1, 2, 3]
    assert template.current_version == third
    assert (third.subject, third.html_source) == ("Hello again", page("Second"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hi"),
        ("preheader", "New this week"),
        ("text", "Hi\n{{ links.unsubscribe }}"),
        ("kind", MessageKind.TRANSACTIONAL),
    ],
)
def test_a_change_to_any_part_is_a_new_version(template, field, value):
    setattr(template, field, value)

    assert template_save(template=template).number == 2


def test_an_unchanged_save_keeps_the_current_version(template):
    first = template.current_version

    again = template_save(template=template)

    assert again == first
    assert numbers(template) == [1]


def test_the_current_version_is_the_one_saved_last(template):
    template.html = page("Second")
    template_save(template=template)

    template.refresh_from_db()
    assert template.current_version.number == 2


def test_a_refused_change_is_no_version(template):
    template.html = page("{{ customer.nick }}")

    with pytest.raises(ValidationError, match="has no field 'nick'"):
        template_save(template=template)

    assert numbers(template) == [1]


def test_versions_of_different_templates_are_numbered_apart(template):
    other = version_of("Other")

    assert (template.current_version.number, other.number) == (1, 1)


# --- blocks as they were ----------------------------------------------------------------------

TEMPLATE_WITH_BLOCK = page("{% render 'greeting' %}")


@pytest.fixture
def greeting(db):
    return block_save(block=ContentBlockFactory.build(name="greeting", source="Hello {{ customer.first_name }}"))


def test_a_version_keeps_the_blocks_it_renders(greeting):
    ContentBlockFactory(name="unused")

    version = version_of(html=TEMPLATE_WITH_BLOCK)

    assert version.blocks == {"greeting": "Hello {{ customer.first_name }}"}


def test_editing_a_block_later_does_not_change_a_saved_version(greeting):
    version = version_of(html=TEMPLATE_WITH_BLOCK)
    ana = CustomerFactory(first_name="Ana")
    assert main(rendered_for(version, ana)) == "Hello Ana"

    greeting.source = "Welcome back, {{ customer.first_name }}"
    block_save(block=greeting)

    version.refresh_from_db()
    assert main(rendered_for(version, ana)) == "Hello Ana"
    assert version.blocks == {"greeting": "Hello {{ customer.first_name }}"}


def test_the_next_save_takes_the_block_as_it_is_now(greeting):
    template = EmailTemplateFactory.build(html=TEMPLATE_WITH_BLOCK)
    first = template_save(template=template)
    greeting.source = "Welcome back, {{ customer.first_name }}"
    block_save(block=greeting)

    second = template_save(template=template)  # the draft is unchanged; its block is not

    assert (first.number, second.number) == (1, 2)
    assert main(rendered_for(second, CustomerFactory(first_name="Ana"))) == "Welcome back, Ana"
    assert main(rendered_for(first, CustomerFactory(first_name="Bo"))) == "Hello Bo"


def test_deleting_a_block_does_not_break_a_saved_version(greeting):
    version = version_of(html=TEMPLATE_WITH_BLOCK)

    greeting.delete()

    assert main(rendered_for(version, CustomerFactory(first_name="Ana"))) == "Hello Ana"


# --- versions are append-only ---------------------------------------------------------------------


def test_a_saved_version_cannot_be_saved_again(template):
    version = template.current_version
    version.subject = "Changed behind the template's back"

    with pytest.raises(AppendOnlyViolation):
        version.save()


def test_versions_cannot_be_updated_in_bulk(template):
    with pytest.raises(AppendOnlyViolation):
        TemplateVersion.objects.filter(template=template).update(subject="Changed")

    assert TemplateVersion.objects.get(template=template).subject == "Hello"


def test_a_version_cannot_be_deleted(template):
    with pytest.raises(AppendOnlyViolation):
        template.current_version.delete()

    with pytest.raises(AppendOnlyViolation):
        TemplateVersion.objects.filter(template=template).delete()


# --- what a version stores: inlined CSS, a text part, compiled MJML ---------------------------------


def test_css_is_inlined_into_the_stored_html(db):
    html = page(
        '<p class="note">{{ customer.first_name }}</p>', head="<style>.note { color: #c00; font-weight: bold }</style>"
    )

    version = version_of(html=html)

    assert '<p class="note" style="color: #c00;font-weight: bold;">{{ customer.first_name }}</p>' in version.html
    assert version.html_source == html


def test_the_pages_css_is_inlined_into_the_blocks_it_renders(db):
    ContentBlockFactory(name="note", source='<p class="note">{{ shop.name }}</p>')
    version = version_of(html=page("{% render 'note' %}", head="<style>.note { color: #c00 }</style>"))

    assert version.blocks["note"] == '<p class="note" style="color: #c00;">{{ shop.name }}</p>'


def test_a_block_of_table_rows_keeps_its_rows_when_the_css_is_inlined_into_it(db):
    ContentBlockFactory(name="row", source='<tr><td class="cell">{{ shop.name }}</td></tr>')
    html = page("<table>{% render 'row' %}</table>", head="<style>.cell { padding: 4px }</style>")

    version = version_of(html=html)

    assert version.blocks["row"] == '<tr><td class="cell" style="padding: 4px;">{{ shop.name }}</td></tr>'


def test_the_style_element_stays_for_clients_that_read_it(db):
    version = version_of(
        html=page("<p>x</p>", head="<style>@media (max-width: 600px) { p { font-size: 18px } }</style>")
    )

    assert "<style>@media (max-width: 600px) { p { font-size: 18px } }</style>" in version.html


def test_inlined_css_renders_with_the_customers_data(db):
    version = version_of(
        html=page('<p class="note">Hi {{ customer.first_name }}</p>', head="<style>.note{color:#c00}</style>")
    )

    assert (
        main(rendered_for(version, CustomerFactory(first_name="Ana")))
        == '<p class="note" style="color: #c00;">Hi Ana</p>'
    )


def test_liquid_inside_attributes_and_tables_survives_inlining(db):
    html = page(
        '<table><tbody>{% for p in products.popular %}<tr><td class="c">{{ p.name }}</td></tr>{% endfor %}'
        "</tbody></table>"
        '<a href="{{ shop.url }}" title="{{ shop.name }}">Shop</a>',
        head="<style>.c{padding:4px}</style>",
    )

    version = version_of(html=html)

    assert (
        '<tbody>{% for p in products.popular %}<tr><td class="c" style="padding: 4px;">{{ p.name }}</td></tr>'
        "{% endfor %}</tbody>" in version.html
    )
    assert '<a href="{{ shop.url }}" title="{{ shop.name }}">Shop</a>' in version.html


def test_a_text_part_is_generated_from_the_html_when_none_is_written(db):
    version = version_of(
        html=page('<h1>Hello {{ customer.first_name }}</h1><p>See <a href="{{ shop.url }}">our shop</a>.</p>')
    )

    assert version.text_source == ""
    assert version.text == (
        "Hello {{ customer.first_name }}\n\nSee our shop ({{ shop.url }}).\n\n"
        "Unsubscribe ({{ links.unsubscribe }}) {{ shop.address }}\n"
    )


def test_the_generated_text_part_renders_links_as_text_and_url(db):
    version = version_of(html=page('<p>See <a href="{{ shop.url }}">our shop</a>.</p>'))

    rendered = rendered_for(version, CustomerFactory())

    assert rendered.text.startswith(f"See our shop ({SHOP_URL}).\n\nUnsubscribe (http://testserver/u/")
    assert rendered.text.endswith(f") {ADDRESS}\n")


def test_the_generated_text_part_leaves_out_what_is_not_shown(db):
    version = version_of(
        html=page('<img src="https://cdn.example.com/logo.png" alt="Logo"><p>Hi</p><script>track()</script>',
                  head="<title>Mail</title><style>p{margin:0}</style>"),
    )  # fmt: skip

    assert version.text == "Hi\n\nUnsubscribe ({{ links.unsubscribe }}) {{ shop.address }}\n"


def test_a_written_text_part_is_kept_as_written(db):
    text = "Hi {{ customer.first_name }},\nunsubscribe: {{ links.unsubscribe }}"

    version = version_of("<p>Hi</p>", text=text)

    assert version.text == text
    assert rendered_for(version, CustomerFactory(first_name="Ana")).text.startswith(
        "Hi Ana,\nunsubscribe: http://testserver/u/"
    )


MJML = (
    '<mjml><mj-head><mj-attributes><mj-text color="#333333" /></mj-attributes></mj-head>'
    "<mj-body><mj-section><mj-column>"
    "<mj-text>Hi {{ customer.first_name }}</mj-text>"
    "{% if customer.traits.order_count > 0 %}<mj-text>Thanks for your order</mj-text>{% endif %}"
    '<mj-text><a href="{{ links.unsubscribe }}">Unsubscribe</a> {{ shop.address }}</mj-text>'
    "</mj-column></mj-section></mj-body></mjml>"
)


def test_mjml_source_is_compiled_to_email_html_with_its_liquid(db):
    version = version_of(html=MJML, source_format=SourceFormat.MJML)

    assert version.html_source == MJML
    assert version.html.startswith("<!DOCTYPE html>")
    assert "<mj-" not in version.html
    assert "Hi {{ customer.first_name }}" in version.html
    assert "{% if customer.traits.order_count > 0 %}" in version.html


def test_compiled_mjml_renders_for_a_customer(db):
    version = version_of(html=MJML, source_format=SourceFormat.MJML)

    rendered = rendered_for(version, CustomerFactory(first_name="Ana"))

    assert rendered.error == ""
    assert "Hi Ana</div>" in rendered.html
    assert "Thanks for your order" not in rendered.html
    assert rendered.text.startswith("Hi Ana\n")
    assert "color:#333333" in rendered.html


def test_mjml_that_does_not_compile_is_refused(db):
    with pytest.raises(ValidationError, match="The MJML does not compile"):
        version_of(html="<mjml><mj-body><mj-section>", source_format=SourceFormat.MJML)

    assert not TemplateVersion.objects.exists()


def test_the_footer_block_counts_in_mjml_too(db):
    ContentBlockFactory(name="footer", source=FOOTER)
    mjml = (
        "<mjml><mj-body><mj-section><mj-column><mj-raw>{% render 'footer' %}</mj-raw>"
        "</mj-column></mj-section></mj-body></mjml>"
    )

    version = version_of(html=mjml, source_format=SourceFormat.MJML)

    assert list(version.blocks) == ["footer"]
    assert f"{ADDRESS}</p>" in rendered_for(version, CustomerFactory()).html


def test_a_rendered_text_part_keeps_one_blank_line_where_tags_and_empty_links_left_many(db):
    text = (
        "Hi   \n{% if false %}x{% endif %}\n  \n\n\t\n  {{ links.view_in_browser }} ()\n\n\n\n  Bye\n"
        "{{ links.unsubscribe }}"
    )

    rendered = rendered_for(version_of("<p>Hi</p>", text=text), CustomerFactory())

    assert rendered.text.startswith("Hi\n\nBye\nhttp://testserver/u/")
