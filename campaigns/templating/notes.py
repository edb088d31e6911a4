"""What a render did besides its output, collected while it runs: the data it missed,
the fallbacks it showed and (when traced, for previews) the branches it took."""

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
    part: str = ""  # the part being rendered


_current: ContextVar[Notes | None] = ContextVar("tailor_render_notes", default=None)


def notes_current() -> Notes | None:
    return _current.get()


class notes_kept:  # lower case: used as a function is, `with notes_kept(notes):`
    """`with notes_kept(notes):` what runs inside notes into `notes`. A class, not a
    generator: it wraps every part of every message rendered."""

    __slots__ = ("notes", "token")

    def __init__(self, notes: Notes):
        self.notes = notes

    def __enter__(self) -> Notes:
        self.token = _current.set(self.notes)
        return self.notes

    def __exit__(self, *exc_info) -> None:
        _current.reset(self.token)


def note_missing(path: str) -> None:
    notes = _current.get()
    if notes is not None and path not in notes.missing:
        notes.missing.append(path)


def note_fallback(value: object) -> None:
    notes = _current.get()
    if notes is not None:
        notes.fallbacks.append(str(value))
