"""The sandbox: a template reaches only the data built for it, never Python internals,
settings or files; a render past a limit (loop iterations, output size) fails for that
recipient alone with a clear error; and what a customer wrote is escaped in the HTML
part, where it would be markup, but not in the text part, where it is text."""

import pytest

from campaigns.models import EmailTemplate, TemplateVersion
from campaigns.templating import sandbox
from campaigns.templating.sandbox import LOOP_ITERATIONS, OUTPUT_BYTES, environment_for
from campaigns.templating.selectors import template_audience_preview, templates_render
from core.errors import ValidationError
from tests.factories import ContentBlockFactory, CustomerFactory, EmailTemplateFactory
from tests.templates.support import consenting, main, page, rendered_for, version_of

pytestmark = pytest.mark.django_db


def refusal(content: str, **fields) -> str:
    with pytest.raises(ValidationError) as refused:
        version_of(content, **fields)
    return refused.value.message


def past_validation(content: str) -> TemplateVersion:
    """A version stored as is, as if validation had missed something: what rendering alone allows."""
    template = EmailTemplateFactory()
    html = page(content)
    return TemplateVersion.objects.create(
        template=template, number=1, kind=template.kind, subject="Hi", source_format="html", html_source=html,
        html=html, text=html,
    )  # fmt: skip


# --- no Python internals, no settings ----------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{{ customer.__class__ }}", "'customer' has no field '__class__'"),
        ("{{ customer.__dict__ }}", "'customer' has no field '__dict__'"),
        ("{{ customer.traits.__class__ }}", "'customer.traits' has no field '__class__'"),
        ("{{ settings.SECRET_KEY }}", "unknown variable 'settings'"),
        ("{{ 'x'.__class__ }}", "expected end of expression, found '.'"),
    ],
)
def test_python_internals_and_settings_are_refused_when_saved(db, content, problem):
    assert problem in refusal(content)
    assert not EmailTemplate.objects.exists()


def test_python_internals_render_nothing_even_past_validation(db):
    version = past_validation(
        "[{{ customer.__class__ }}|{{ customer.__dict__ }}|{{ customer.email.__class__ }}"
        "|{{ customer.attributes.__class__.__mro__ }}|{{ shop.__class__.__init__.__globals__ }}]"
    )

    assert main(rendered_for(version, CustomerFactory(attributes={"plan": "gold"}))) == "[||||]"


def test_settings_and_the_environment_render_nothing_even_past_validation(db):
    version = past_validation("[{{ settings.SECRET_KEY }}|{{ SECRET_KEY }}|{{ environ.HOME }}|{{ request.user }}]")

    assert main(rendered_for(version, CustomerFactory())) == "[|||]"


@pytest.mark.parametrize(
    "content",
    [
        "{{ recommendations._batch }}",
        "{{ recommendations._batch._customers }}",
        "{{ recommendations._customer_id }}",
        "{{ recommendations.pick }}",
        "{{ recommendations.source }}",
        "{{ recommendations.__class__ }}",
    ],
)
def test_the_recommendations_object_shows_no_attribute(db, content):
    version = version_of(f"[{content}]")  # passes validation: recommendations is a list, its fields are not known

    assert main(rendered_for(version, consenting())) == "[]"


# --- no files ---------------------------------------------------------------------------


def test_include_is_refused_when_saved(db):
    assert "unexpected tag 'include'" in refusal("{% include '/etc/passwd' %}")


def test_include_is_not_a_tag_of_the_environment(db):
    assert "include" not in environment_for(blocks=(), html=True).tags
    assert "render" in environment_for(blocks=(), html=True).tags


@pytest.mark.parametrize("name", ["/etc/passwd", "../../config/settings.py", "footer.liquid"])
def test_render_finds_content_blocks_only_never_files(db, name):
    ContentBlockFactory(name="footer")

    assert f"no content block named '{name}'" in refusal(f"{{% render '{name}' %}}")


def test_mjml_include_is_refused(db):
    mjml = '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>'

    assert "The MJML does not compile: unable to load included template" in refusal("", html=mjml, source_format="mjml")


def test_mjml_include_of_a_url_is_refused(db):
    mjml = '<mjml><mj-body><mj-include path="https://example.com/header.mjml" /></mj-body></mjml>'

    assert "The MJML does not compile: unable to load included template" in refusal("", html=mjml, source_format="mjml")


# --- limits: a runaway render fails for that recipient only ------------------------------------

LOOP_LIMIT = "The html part went past a limit: loop iteration limit reached."
OUTPUT_LIMIT = "The html part went past a limit: output stream limit reached."


def test_a_runaway_loop_fails_that_render_with_a_clear_error(db):
    rendered = rendered_for(version_of("{% for i in (1..100000) %}x{% endfor %}"), CustomerFactory())

    assert rendered.error == LOOP_LIMIT
    assert (rendered.subject, rendered.html, rendered.text, rendered.links) == ("", "", "", [])


def test_nested_loops_count_their_iterations_together(db):
    inner = LOOP_ITERATIONS // 50  # each loop alone is well under the limit; nested, 50 times that is over it
    version = version_of(f"{{% for i in (1..60) %}}{{% for j in (1..{inner}) %}}x{{% endfor %}}{{% endfor %}}")

    assert rendered_for(version, CustomerFactory()).error == LOOP_LIMIT


def test_loops_under_the_limit_render(db):
    version = version_of("{% for i in (1..40) %}{% for j in (1..40) %}{% endfor %}{% endfor %}{{ 'done' }}")

    rendered = rendered_for(version, CustomerFactory())

    assert (rendered.error, main(rendered)) == ("", "done")


def test_a_loop_too_long_for_one_recipient_does_not_stop_the_others(db):
    version = version_of("{% for i in (1..customer.attributes.n) %}x{% endfor %}")
    few, many, some = (CustomerFactory(attributes={"n": n}) for n in (3, 100_000, 5))

    rendered = templates_render(version=version, customers=[few, many, some])

    assert [r.customer_id for r in rendered] == [few.pk, many.pk, some.pk]
    assert [r.error for r in rendered] == ["", LOOP_LIMIT, ""]
    assert [main(r) for r in rendered if not r.error] == ["xxx", "xxxxx"]


def test_an_output_over_a_megabyte_fails_that_render_only(db):
    assert OUTPUT_BYTES == 1_000_000
    line = "y" * 300  # 4,000 lines of 300 characters: 1.2 MB, in fewer iterations than the limit
    version = version_of(f"{{% for i in (1..customer.attributes.n) %}}{line}{{% endfor %}}")
    giant, small = CustomerFactory(attributes={"n": 4000}), CustomerFactory(attributes={"n": 2})

    rendered = templates_render(version=version, customers=[giant, small])

    assert [r.error for r in rendered] == [OUTPUT_LIMIT, ""]
    assert main(rendered[1]) == line * 2


def test_the_output_limit_counts_bytes_not_characters(db):
    accents = "é" * 300  # 2,000 times: 600,000 characters, 1.2 MB in UTF-8
    version = version_of(f"{{% for i in (1..2000) %}}{accents}{{% endfor %}}")

    assert rendered_for(version, CustomerFactory()).error == OUTPUT_LIMIT


def test_a_render_past_its_time_fails_that_render_with_a_clear_error(db, monkeypatch):
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.0)
    version = version_of("{% for i in (1..200) %}<b>{{ i }}</b>{% endfor %}")

    rendered = rendered_for(version, CustomerFactory())

    assert rendered.error == "The html part went past a limit: render time limit of 0 s reached."


def test_a_giant_output_from_a_block_fails_too(db):
    ContentBlockFactory(name="wall", source="{% for i in (1..4000) %}" + "z" * 300 + "{% endfor %}")

    assert rendered_for(version_of("{% render 'wall' %}"), CustomerFactory()).error == OUTPUT_LIMIT


def test_a_failed_render_is_counted_as_failed_in_an_audience_preview(db):
    version = version_of("{% for i in (1..customer.attributes.n) %}x{% endfor %}")
    ok, runaway = CustomerFactory(attributes={"n": 1}), CustomerFactory(attributes={"n": 100_000})

    preview = template_audience_preview(version=version, customers=[ok, runaway])

    assert (preview.rendered, preview.failed) == (1, {runaway.pk: LOOP_LIMIT})


# --- escaping -----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def mallory(db):
    return CustomerFactory(first_name=SCRIPT, last_name='"><img src=x onerror=alert(1)>')


def test_a_customers_data_is_escaped_in_the_html_part(mallory):
    rendered = rendered_for(version_of("Hi {{ customer.first_name }}"), mallory)

    assert main(rendered) == "Hi &lt;script&gt;alert(1)&lt;/script&gt;"
    assert SCRIPT not in rendered.html


def test_a_customers_data_is_escaped_in_an_html_attribute(mallory):
    rendered = rendered_for(version_of('<span title="{{ customer.last_name }}">hi</span>'), mallory)

    assert main(rendered) == '<span title="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;">hi</span>'


def test_a_customers_data_is_escaped_in_a_block(mallory):
    ContentBlockFactory(name="hello", source="Hello {{ customer.first_name }}")

    assert (
        main(rendered_for(version_of("{% render 'hello' %}"), mallory)) == "Hello &lt;script&gt;alert(1)&lt;/script&gt;"
    )


def test_a_customers_data_is_not_escaped_in_the_text_part(mallory):
    rendered = rendered_for(version_of("Hi {{ customer.first_name }}"), mallory)

    assert rendered.text.startswith(f"Hi {SCRIPT}")
    assert "&lt;" not in rendered.text


def test_a_customers_data_is_not_escaped_in_the_subject(mallory):
    rendered = rendered_for(version_of("hi", subject="For {{ customer.first_name }}"), mallory)

    assert rendered.subject == f"For {SCRIPT}"


def test_a_customers_data_in_the_preheader_is_escaped_where_the_html_shows_it(mallory):
    rendered = rendered_for(version_of("hi", preheader="Picked for {{ customer.first_name }}"), mallory)

    assert rendered.preheader == f"Picked for {SCRIPT}"
    assert "Picked for &lt;script&gt;alert(1)&lt;/script&gt;</div>" in rendered.html
    assert SCRIPT not in rendered.html


def test_the_marketers_own_markup_is_kept(db):
    rendered = rendered_for(version_of("<b>{{ 'Sale' }}</b> <i>now</i>"), CustomerFactory())

    assert main(rendered) == "<b>Sale</b> <i>now</i>"
