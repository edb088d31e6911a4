"""The email HTML pipeline, run once per template version, not per recipient: MJML
compiled with mrml, CSS inlined with css-inline, the text part generated from the HTML.

Each step parses HTML, and Liquid is not HTML: a `{% for %}` between table rows would
be moved out of the table by an HTML5 parser, and `{{ … }}` inside an attribute could be
escaped. So Liquid markup is swapped for placeholders first and put back after. HTML
comments serve for the HTML steps, since a parser leaves a comment where it stands (in
a table too); the text step needs placeholders that read as text.
"""

import re
from html import escape, unescape

import css_inline
import mrml
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from core.errors import ValidationError

LIQUID_MARKUP = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
_COMMENT = "<!--tlq:{}-->"
_COMMENT_BACK = re.compile(r"<!--tlq:(\d+)-->|&lt;!--tlq:(\d+)--&gt;")
_TEXT = "TLQ{}QLT"
_TEXT_BACK = re.compile(r"TLQ(\d+)QLT")
_MARKDOWN_LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]*)\)")
_NOT_SHOWN = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.S | re.I)
# Laid out as a table, a loop's tags would leave the rows they repeat; as blocks they stay in order.
_IMAGES = re.compile(r"\{\{[^}]*\|\s*product_image\b[^}]*\}\}|<img\b[^>]*>", re.I)  # pictures have no text
_ROWS = re.compile(r"<(/?)(?:table|thead|tbody|tfoot|tr)\b[^>]*>", re.I)
_CELLS = re.compile(r"<(/?)(?:td|th)\b[^>]*>", re.I)
# mj-include would read files or fetch URLs, and fonts would link to a CDN: neither is allowed.
_MJML_PARSER = mrml.ParserOptions(include_loader=mrml.noop_loader())
_MJML_RENDER = mrml.RenderOptions(disable_comments=False, fonts={})
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True)
_TEXT_CONFIG = ParserConfig(display_links=True, display_images=False)


def _protect(source: str, placeholder: str) -> tuple[str, list[str]]:
    pieces: list[str] = []

    def swap(match: re.Match) -> str:
        pieces.append(match.group(0))
        return placeholder.format(len(pieces) - 1)

    return LIQUID_MARKUP.sub(swap, source), pieces


def _restore(text: str, pieces: list[str], pattern: re.Pattern) -> str:
    return pattern.sub(lambda m: pieces[int(next(g for g in m.groups() if g is not None))], text)


def mjml_compile(source: str) -> str:
    """MJML (with Liquid) to email HTML (with the same Liquid)."""
    protected, pieces = _protect(source, _COMMENT)
    try:
        compiled = mrml.to_html(protected, parser_options=_MJML_PARSER, render_options=_MJML_RENDER).content
    except OSError as error:  # mrml's only error type: the message says where
        raise ValidationError(
            f"The MJML does not compile: {error}.", details={"field": "html", "mjml": str(error)}
        ) from error
    return _restore(compiled, pieces, _COMMENT_BACK)


def css_inline_once(html: str) -> str:
    """Move the rules of <style> into style attributes, which every mail client honors.
    The <style> stays too, for media queries and clients that read it."""
    protected, pieces = _protect(html, _COMMENT)
    return _restore(_INLINER.inline(protected), pieces, _COMMENT_BACK)


_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.S | re.I)


def css_inline_blocks(blocks: dict[str, str], page_html: str) -> dict[str, str]:
    """The blocks a page renders, with the page's CSS inlined into them too: a block is
    its own template, which the page's inlining never saw."""
    css = "\n".join(_STYLE.findall(page_html))
    if not css.strip():
        return blocks
    return {name: _fragment_inline(source, css) for name, source in blocks.items()}


_FIRST_TAG = re.compile(r"<([a-z][a-z0-9]*)\b", re.I)
# A fragment is parsed as if in <body>, where table rows and cells are dropped: a block
# that is rows or cells is inlined inside the table that will hold it, then cut out again.
_TABLE_CONTEXT = {
    "tr": ("<table><tbody>", "</tbody></table>"),
    "td": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "th": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "tbody": ("<table>", "</table>"),
    "thead": ("<table>", "</table>"),
    "tfoot": ("<table>", "</table>"),
}
_CUT_START, _CUT_END = "<!--tlq-fragment-->", "<!--/tlq-fragment-->"


def _fragment_inline(source: str, css: str) -> str:
    protected, pieces = _protect(source, _COMMENT)
    first = _FIRST_TAG.search(_COMMENT_BACK.sub("", protected))
    before, after = _TABLE_CONTEXT.get(first[1].lower() if first else "", ("", ""))
    wrapped = f"{before}{_CUT_START}{protected}{_CUT_END}{after}"
    inlined = _INLINER.inline_fragment(wrapped, css)
    inner = inlined[inlined.index(_CUT_START) + len(_CUT_START) : inlined.index(_CUT_END)]
    return _restore(inner, pieces, _COMMENT_BACK)


def text_from_html(html: str) -> str:
    """A plain-text part from HTML with Liquid: tables laid out, links as "text (url)"."""
    flat = _CELLS.sub(r"<\1span> ", _ROWS.sub(r"<\1div>", _NOT_SHOWN.sub("", _IMAGES.sub("", html))))
    protected, pieces = _protect(flat, _TEXT)
    text = get_text(protected, _TEXT_CONFIG)
    # A link around an image alone says nothing in text; the words' link next to it does.
    text = _MARKDOWN_LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[1].strip() else "", text)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()
    return _restore(text, pieces, _TEXT_BACK) + "\n"


def text_blocks(blocks: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The blocks as the text part renders them: HTML blocks turned to text, as the HTML was."""
    return tuple(sorted((name, text_from_html(source).rstrip("\n")) for name, source in blocks.items()))


_TRAILING = re.compile(r"[ \t]+$", re.M)
_BLANK_RUN = re.compile(r"\n{3,}[ \t]*")
_EMPTY_LINK = " ()"  # a link whose URL was empty


def text_tidy(text: str) -> str:
    """A rendered text part without the blank lines and trailing spaces Liquid tags leave."""
    return _BLANK_RUN.sub("\n\n", _TRAILING.sub("", text.replace(_EMPTY_LINK, ""))).strip() + "\n"


_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)
_PREHEADER = (
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
    'overflow:hidden;mso-hide:all">{}</div>'
)


def preheader_insert(html: str, preheader: str) -> str:
    """The preheader as the first, hidden text of the body, where inboxes look for it."""
    if not preheader:
        return html
    block = _PREHEADER.format(escape(preheader, quote=False))  # rendered as text: a name in it is data, not markup
    opening = _BODY_OPEN.search(html)
    return html[: opening.end()] + block + html[opening.end() :] if opening else block + html


_HREF = re.compile(r"""<a\b[^>]*?\shref\s*=\s*["']([^"']+)["']""", re.I)


def links_in(html: str) -> list[str]:
    """The web links of rendered HTML, in order of appearance: the ones a send tracks."""
    return [unescape(href) for href in _HREF.findall(html) if href.startswith(("http://", "https://"))]
