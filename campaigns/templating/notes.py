"""What a render did besides its output, collected while it runs: the data it missed,
the fallbacks it showed and (when traced, for previews) the branches it took."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Branch:
    part: str  # subject, preheader, html or text
    line: int
    condition: str
    taken: str  # "if", "elsif N", "else" or "none"


@dataclass
class Notes:
    missing: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    branches: list[Branch] = field(default_factory=list)
    trace: bool = False
    part: str = ""  # the part being rendered


_current: ContextVar[Notes | None] = ContextVar("tailor_render_notes", default=None)


def notes_current() -> Notes | None:
    return _current.get()


@contextmanager
def notes_kept(notes: Notes) -> Iterator[Notes]:
    token = _current.set(notes)
    try:
        yield notes
    finally:
        _current.reset(token)


def note_missing(path: str) -> None:
    notes = _current.get()
    if notes is not None and path not in notes.missing:
        notes.missing.append(path)


def note_fallback(value: object) -> None:
    notes = _current.get()
    if notes is not None:
        notes.fallbacks.append(str(value))
