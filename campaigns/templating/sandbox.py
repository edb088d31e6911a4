"""The Liquid environment marketers' templates run in, and what it refuses.

Liquid reaches data only by `obj[key]`, never by attribute, so a template sees exactly
the dictionaries and lists that data.py builds: no settings, environment, files or
Python internals. On top of that, every render is bounded: loop iterations, output
size, context depth and wall-clock time. A template past a limit fails that render with
`RenderError`, never the worker.

HTML parts autoescape what they print (a customer's name is data, not markup); the
subject, preheader and text part do not, since they are not HTML.
"""

import functools
import re
import time
from contextvars import ContextVar
from io import StringIO

from liquid import Environment, Mode, Undefined
from liquid.builtin.loaders.dict_loader import CachingDictLoader
from liquid.builtin.tags.if_tag import IfNode, IfTag
from liquid.builtin.tags.render_tag import RenderTag
from liquid.exceptions import LiquidError, OutputStreamLimitError, ResourceLimitError
from liquid.template import BoundTemplate

from campaigns.templating import filters
from campaigns.templating.blocks import MemoRenderTag
from campaigns.templating.notes import Branch, Notes, note_missing, notes_current, notes_kept
from core.errors import TailorError

LOOP_ITERATIONS = 5_000  # all loops of a render together, nested loops multiplied
OUTPUT_BYTES = 1_000_000  # an email past 102 KB is clipped by Gmail already
CONTEXT_DEPTH = 10  # nested render tags
RENDER_SECONDS = 2.0


class RenderError(TailorError):
    """A template failed for one recipient (a limit, a type error): that render only."""

    code = "render_failed"


_deadline: ContextVar[float] = ContextVar("tailor_render_deadline", default=float("inf"))


_UNDEFINED_HINT = re.compile(r"^'?(?P<path>.+?)'? is undefined$")


class RecordedUndefined(Undefined):
    """Prints as nothing, as Liquid's default does, and notes which path was missing."""

    __slots__ = ()

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        if name == "parentloop" and self.hint is None:  # Liquid's own, made for every outermost loop: not data
            return
        found = _UNDEFINED_HINT.match(self.hint or "")
        note_missing(found["path"] if found else name)


class _BoundedOutput(StringIO):
    """Output that stops a render past its size (in UTF-8 bytes, as Liquid's own limited
    output counts) or past its time. A render writes a few hundred times: the clock is
    read every `CLOCK_EVERY` writes, and a chunk is encoded only to count it when it is
    not ASCII."""

    CLOCK_EVERY = 16

    def __init__(self, limit: int, deadline: float):
        super().__init__()
        self.limit, self.deadline, self.size, self.writes = limit, deadline, 0, 0

    def write(self, text: str) -> int:
        if text:
            self.size += len(text) if text.isascii() else len(text.encode())
            if self.size > self.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
            self.writes += 1
            if self.writes % self.CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
                raise OutputStreamLimitError(f"render time limit of {RENDER_SECONDS:g} s reached", token=None)
        return super().write(text)


class _BoundedTemplate(BoundTemplate):
    def _get_buffer(self):
        return _BoundedOutput(self.env.output_stream_limit, _deadline.get())


class _TracedIfNode(IfNode):
    """An if that notes which branch it took (a traced environment's, for previews)."""

    __slots__ = ()

    def render_to_output(self, context, buffer) -> int:
        notes = notes_current()
        if notes is None:
            return super().render_to_output(context, buffer)
        taken, block = "none", None
        if self.condition.evaluate(context):
            taken, block = "if", self.consequence
        else:
            for number, alternative in enumerate(self.alternatives, start=1):
                if alternative.expression.evaluate(context):
                    taken, block = f"elsif {number}", alternative.block
                    break
            else:
                if self.default:
                    taken, block = "else", self.default
        source = self.token.source
        line = source.count("\n", 0, self.token.start_index) + 1
        notes.branches.append(Branch(part=notes.part, line=line, condition=str(self.condition), taken=taken))
        return block.render(context, buffer) if block is not None else 0


class _TracedIfTag(IfTag):
    node_class = _TracedIfNode


class TailorEnvironment(Environment):
    loop_iteration_limit = LOOP_ITERATIONS
    output_stream_limit = OUTPUT_BYTES
    context_depth_limit = CONTEXT_DEPTH
    template_class = _BoundedTemplate
    keyword_assignment = True  # recommend: count=4 reads as well as count: 4

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=False)
        # include shares the caller's scope and reads any template by a computed name; render does neither.
        del self.tags["include"]
        self.add_tag(MemoRenderTag)
        for name, function in filters.REGISTRY.items():
            self.add_filter(name, function)


class TracedEnvironment(TailorEnvironment):
    """For previews: every if notes the branch it took, and blocks render in full (a reused
    block would not note its branches). Apart, so that the renders of a campaign, which note
    none, pay nothing for it."""

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(_TracedIfTag)
        self.add_tag(RenderTag)


@functools.lru_cache(maxsize=32)
def environment_for(*, blocks: tuple[tuple[str, str], ...], html: bool, traced: bool = False) -> TailorEnvironment:
    """One environment per set of blocks (a version's), part kind and tracing, so that blocks are parsed once."""
    return (TracedEnvironment if traced else TailorEnvironment)(
        tolerance=Mode.STRICT,
        undefined=RecordedUndefined,
        strict_filters=True,
        autoescape=html,
        loader=CachingDictLoader(dict(blocks)),
    )


def render_bounded(template: BoundTemplate, data: dict, notes: Notes, *, part: str) -> str:
    """Render one part for one recipient within the limits, noting what it did."""
    notes.part = part
    deadline = _deadline.set(time.monotonic() + RENDER_SECONDS)
    try:
        with notes_kept(notes):
            return template.render(data)
    except ResourceLimitError as error:
        message = f"The {part} part went past a limit: {error.message}."
        raise RenderError(message, details={"part": part, "limit": str(error)}) from error
    except (LiquidError, ValueError, TypeError, ArithmeticError) as error:
        message = f"The {part} part failed: {getattr(error, 'message', error)}"
        raise RenderError(message, details={"part": part, "error": str(error)}) from error
    finally:
        _deadline.reset(deadline)
