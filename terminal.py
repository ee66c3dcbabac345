"""Printing to a terminal that cannot show everything we print: η, ∂, arrows, torchinfo's box drawing.

`use_fallback_if_needed()` keeps a UTF-8 terminal as it is; on one whose encoding cannot show those
characters (an ASCII or Latin-1 locale, PYTHONIOENCODING=ascii, a Windows code page) it makes stdout and
stderr spell them in ASCII ("eta", "d", "->", "|") instead of failing with UnicodeEncodeError.
"""

from __future__ import annotations

import codecs
import sys

ERRORS = "backprop_lab_ascii"
SAMPLE = "η∂→≤─│█"  # what our programs and their libraries print

SPELLINGS = {
    "η": "eta",
    "∂": "d",
    "σ": "sigma",
    "→": "->",
    "←": "<-",
    "≤": "<=",
    "≥": ">=",
    "±": "+/-",
    "−": "-",
    "·": "*",
    "×": "x",
    "½": "1/2",
    "²": "^2",
    "°": " deg",
    "…": "...",
    "—": "-",
    "–": "-",
    "▸": ">",
    "═": "=",
    "─": "-",
    "━": "-",
    "│": "|",
    "┃": "|",
    "├": "|",
    "└": "`",
    "┌": "+",
    "┐": "+",
    "┘": "+",
    "┬": "+",
    "┴": "+",
    "┼": "+",
    "█": "#",
}


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(SPELLINGS.get(ch, "?") for ch in text), error.end


codecs.register_error(ERRORS, _fallback)


def can_show(stream: object, text: str = SAMPLE) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def use_fallback_if_needed() -> None:
    """Make sys.stdout and sys.stderr spell what their encoding lacks in ASCII (see the module's note)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not can_show(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ERRORS)
