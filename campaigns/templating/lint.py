"""Validation of a template before it is saved: syntax errors with line and column,
variables and filters that cannot resolve, content blocks that do not exist, and what
the law and the inbox providers require of marketing email (an unsubscribe link and
the shop's postal address). Static analysis covers the blocks a template renders."""

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from liquid.exceptions import LiquidError, TemplateNotFoundError

from campaigns.models import MessageKind, SourceFormat
from campaigns.templating.data import KNOWN_FIELDS, PRODUCT_FIELDS, ROOTS, TRAIT_FIELDS
from campaigns.templating.html import css_inline_blocks, css_inline_once, mjml_compile, text_blocks, text_from_html
from campaigns.templating.sandbox import environment_for
from core.errors import ValidationError

PARTS = ("subject", "preheader", "html", "text")
_RENDERED_BLOCK = re.compile(r"""\brender\s+(?:'([^']+)'|"([^"]+)")""")
# Fields of what loops and recommend hand out are checked where their names are known.
_FIELDS_OF_ITEMS = {("customer", "traits"): TRAIT_FIELDS}


@dataclass(frozen=True)
class Problem:
    part: str  # subject, preheader, html, text, or the block "block:name"
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.part}, line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True)
class Checked:
    """A template that passed: what a version stores."""

    html: str  # compiled from MJML if it was, CSS inlined
    text: str  # as written, or generated from the HTML
    blocks: dict[str, str]


def _where(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


def blocks_used(sources: Iterable[str], available: dict[str, str]) -> dict[str, str]:
    """The blocks the sources render, and the blocks those render, by name."""
    used: dict[str, str] = {}
    waiting = list(sources)
    while waiting:
        for match in _RENDERED_BLOCK.finditer(waiting.pop()):
            name = match[1] or match[2]
            if name in available and name not in used:
                used[name] = available[name]
                waiting.append(available[name])
    return used


def _syntax_problem(part: str, source: str, error: LiquidError) -> Problem:
    context = error.context() if hasattr(error, "context") else None
    # python-liquid counts columns from 0; problems count them from 1, as _where does.
    line, column = (context[0], context[1] + 1) if context else (source.count("\n") + 1, 1)
    return Problem(part, line, column, str(getattr(error, "message", error)))


def _reference_problems(part: str, analysis, sources: dict[str, str], filters: dict) -> list[Problem]:
    problems = []

    def at(span, message: str) -> Problem:
        name = span.template_name
        return Problem(f"block:{name}" if name else part, *_where(sources.get(name, ""), span.index), message)

    for root, uses in analysis.globals.items():
        for variable in uses:
            path = [str(s) for s in variable.segments]
            if root not in ROOTS:
                problems.append(at(variable.span, f"unknown variable '{root}': templates can use {', '.join(ROOTS)}"))
                break
            known = KNOWN_FIELDS.get(root)
            if known and len(path) > 1 and path[1] not in known:
                problems.append(at(variable.span, f"'{root}' has no field '{path[1]}' (fields: {', '.join(known)})"))
            nested = _FIELDS_OF_ITEMS.get(tuple(path[:2]))
            if nested and len(path) > 2 and path[2] not in nested:
                problems.append(at(variable.span, f"'{'.'.join(path[:2])}' has no field '{path[2]}'"))
            if root == "products" and len(path) > 3 and path[3] not in PRODUCT_FIELDS:
                problems.append(at(variable.span, f"a product has no field '{path[3]}'"))
    for name, spans in analysis.filters.items():
        if name not in filters:
            problems.extend(at(span, f"unknown filter '{name}'") for span in spans)
    return problems


def _uses(analysis, root: str, field: str) -> bool:
    return any([str(s) for s in v.segments[:2]] == [root, field] for v in analysis.globals.get(root, []))


def template_check(
    *, kind: str, subject: str, preheader: str, html: str, text: str, source_format: str, blocks: dict[str, str]
) -> Checked:
    """Check a template's parts; raise ValidationError listing every problem found, else
    return what renders (compiled, inlined, the text part)."""
    problems: list[Problem] = []
    if source_format == SourceFormat.MJML:
        try:
            html = mjml_compile(html)
        except ValidationError as error:
            problem = Problem("html", 1, 1, error.message)
            raise ValidationError(error.message, details={"problems": [asdict(problem)]}) from error
    used = blocks_used([subject, preheader, html, text], blocks)
    sources = {"": "", **used}
    analyses = {}
    for part, source in zip(PARTS, (subject, preheader, html, text), strict=True):
        if not source:
            continue
        environment = environment_for(
            blocks=tuple(sorted(used.items())) if part == "html" else text_blocks(used), html=part == "html"
        )
        sources[""] = source
        try:
            analyses[part] = environment.from_string(source).analyze(include_partials=True)
        except TemplateNotFoundError as error:
            found = _syntax_problem(part, source, error)
            problems.append(Problem(part, found.line, found.column, f"no content block named '{error.message}'"))
            continue
        except LiquidError as error:
            problems.append(_syntax_problem(part, source, error))
            continue
        problems.extend(_reference_problems(part, analyses[part], sources, environment.filters))
    if kind == MessageKind.MARKETING and "html" in analyses:
        problems.extend(_required_in_marketing(analyses))
    if problems:
        raise ValidationError(
            f"The template has {len(problems)} problem{'s' if len(problems) > 1 else ''}: "
            + "; ".join(str(p) for p in problems),
            details={"problems": [asdict(p) for p in problems]},
        )
    blocks = css_inline_blocks(used, html)
    html = css_inline_once(html)
    return Checked(html=html, text=text or text_from_html(html), blocks=blocks)


def _required_in_marketing(analyses: dict) -> list[Problem]:
    problems = []
    for part in ("html", "text"):
        if part in analyses and not _uses(analyses[part], "links", "unsubscribe"):
            problems.append(Problem(part, 1, 1, "marketing email needs an unsubscribe link: {{ links.unsubscribe }}"))
    if not _uses(analyses["html"], "shop", "address"):
        problems.append(Problem("html", 1, 1, "marketing email needs the shop's postal address: {{ shop.address }}"))
    return problems


def block_check(*, source: str) -> None:
    """Check that a content block parses (ValidationError with its line and column if not)."""
    try:
        environment_for(blocks=(), html=True).from_string(source)
    except LiquidError as error:
        problem = _syntax_problem("source", source, error)
        details = {"problems": [asdict(problem)]}
        raise ValidationError(f"The block does not parse: {problem}", details=details) from error


def subject_check(*, subject: str, blocks: dict[str, str]) -> None:
    """Check a subject line on its own (an experiment's variant of it)."""
    template_check(kind="transactional", subject=subject, preheader="", html="", text="", source_format="html",
                   blocks=blocks)  # fmt: skip
