"""`{% render 'block' %}`, rendered once per distinct input instead of once per use.

A campaign renders the same product card for the same product in the same locale
thousands of times: the cards were two fifths of a message's render time. A block
renders in its own scope (its arguments and the render's globals, never the caller's
variables), so when it has no loops or nested renders and uses only filters whose
inputs are known, its output is a function of the values it names: the arguments and
globals it reads, and the globals its filters read (`filters.CONTEXT_READS`). Those
values, frozen, are the key. A hit writes the stored output through the bounded buffer
(so size and time limits still hold) and notes again what the first render noted
(missing data, fallbacks shown).

Previews, which note each branch taken, parse with Liquid's own render tag. A call
site whose keys keep missing (a footer that prints each recipient's own links) stops
memoizing after `TRIAL` lookups.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from io import StringIO

from liquid.builtin.expressions import StringLiteral
from liquid.builtin.tags.render_tag import RenderNode, RenderTag
from markupsafe import Markup

from campaigns.templating.filters import CONTEXT_READS
from campaigns.templating.notes import Notes, note_fallback, note_missing, notes_current, notes_kept

# Tags whose effects end with the block's own scope and whose work is bounded by its text.
TAGS_PURE = frozenset({"if", "unless", "case", "assign", "capture", "echo", "comment", "#", "raw", "liquid"})
# Liquid's own filters that read something besides their arguments: `date` knows "now".
FILTERS_IMPURE = frozenset({"date"})
ENTRIES = 20_000  # per call site, the least recently used dropped; a product card is about half a kilobyte
TRIAL = 2_000  # lookups before a call site that rarely hits gives up
HIT_RATE_KEPT = 0.25


class _Unfrozen(Exception):
    """A value the key cannot hold faithfully (a drop, a custom object): render in full."""


# Scalars are keyed by type and repr: 1, 1.0 and True are equal as keys but print
# differently, as do Decimal("1.0") and Decimal("1.00"), and a Markup and its str.
_SCALARS = frozenset({int, float, bool, Decimal, datetime, date, time, Markup, type(None)})


def _frozen(value):
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:
        return (dict, tuple((k if type(k) is str else _frozen(k), _frozen(v)) for k, v in value.items()))
    if kind is list or kind is tuple:
        return (list, tuple(_frozen(item) for item in value))
    if kind in _SCALARS:
        return (kind, repr(value))
    raise _Unfrozen(kind.__name__)


_ABSENT = object()
Path = tuple[str, ...]  # ("product",), ("campaign", "utm_campaign")


def _frozen_at(value, path: Path):
    for name in path[1:]:
        if value is _ABSENT:
            break
        if type(value) is not dict:
            raise _Unfrozen(type(value).__name__)
        value = value.get(name, _ABSENT)
    return value if value is _ABSENT else _frozen(value)


@dataclass
class _Stored:
    output: str
    missing: tuple[str, ...]
    fallbacks: tuple[str, ...]


@dataclass
class _CallSite:
    """What one render tag has learned: which paths key its block (None: not yet looked
    at, empty: never memoized) and the outputs stored by key, least recently used first."""

    reads: tuple[Path, ...] | None = None
    stored: OrderedDict = field(default_factory=OrderedDict)
    lookups: int = 0
    hits: int = 0

    def keep_trying(self) -> bool:
        if self.lookups == TRIAL and self.hits < HIT_RATE_KEPT * TRIAL:
            self.reads, self.stored = (), OrderedDict()
        return bool(self.reads)


def block_key_reads(template) -> tuple[Path, ...]:
    """What a block's output depends on: the variables it names and what its filters
    read, as paths from the render's globals; () when it cannot be memoized."""
    analysis = template.analyze(include_partials=False)
    if not set(analysis.tags) <= TAGS_PURE:
        return ()
    reads = {(name,) for name in analysis.globals}
    for name in analysis.filters:
        if name in FILTERS_IMPURE:
            return ()
        if getattr(template.env.filters.get(name), "with_context", False):
            if name not in CONTEXT_READS:
                return ()
            reads.update(tuple(path.split(".")) for path in CONTEXT_READS[name])
    # A variable read whole makes reading a part of it redundant.
    return tuple(sorted(path for path in reads if not any(path[:n] in reads for n in range(1, len(path)))))


class MemoRenderNode(RenderNode):
    __slots__ = ("site",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = _CallSite()

    def render_to_output(self, context, buffer) -> int:
        notes = notes_current()
        # Only the plain form ({% render 'name', key: value %}) of a named block: `with`
        # and `for` bind drops such as forloop, which a key cannot hold.
        if notes is None or self.var is not None or not isinstance(self.name, StringLiteral):
            return super().render_to_output(context, buffer)
        site = self.site
        if site.reads is None:
            site.reads = block_key_reads(context.env.get_template(self.name.value, context=context, tag=self.tag))
        if not site.keep_trying():
            return super().render_to_output(context, buffer)
        try:
            key = self._key(context, site.reads)
        except _Unfrozen:
            return super().render_to_output(context, buffer)
        site.lookups += 1
        stored = site.stored.get(key)
        if stored is None:
            stored = self._render_new(context, notes)
            if len(site.stored) >= ENTRIES:
                site.stored.popitem(last=False)
            site.stored[key] = stored
        else:
            site.hits += 1
            site.stored.move_to_end(key)
        for path in stored.missing:
            note_missing(path)
        for fallback in stored.fallbacks:
            note_fallback(fallback)
        buffer.write(stored.output)
        return True

    def _key(self, context, reads: tuple[Path, ...]) -> tuple:
        args = {arg.name: arg.value.evaluate(context) for arg in self.args}
        scope = context.globals  # what the block sees beside its arguments: never the caller's locals
        return tuple(_frozen_at(args[path[0]] if path[0] in args else scope.get(path[0], _ABSENT), path)
                     for path in reads)  # fmt: skip

    def _render_new(self, context, notes: Notes) -> _Stored:
        own = Notes(part=notes.part)  # what this block alone notes, to note again on every hit
        output = StringIO()
        with notes_kept(own):
            super().render_to_output(context, output)
        return _Stored(output.getvalue(), tuple(own.missing), tuple(own.fallbacks))


class MemoRenderTag(RenderTag):
    node_class = MemoRenderNode
