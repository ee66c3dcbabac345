"""The columns a student's table may have, and the spellings students give them.

Names are reference.py's keys (t1 … a_o2, E1, E2, E_total, dE/dw1 …), which are also the grader's JSON names.
A header cell is recognised after folding what students vary: case, spaces, underscores, braces and
brackets, subscripts (NFKC), ∂ for d, and "total"/"tot" in a gradient (∂E_total/∂w1, dEtotal/dw1, dE/dw1).
"""

from __future__ import annotations

import re
import unicodedata

from .project import reference

INPUTS = ("t1", "t2", "i1", "i2")
PARAMS = reference.PARAMS  # w1 … w8, b1, b2
FORWARD = reference.FORWARD
GRADS = reference.GRADS
# Every column the grader knows, in the documents' order (biases where a table has them).
NAMES = INPUTS + PARAMS + FORWARD + GRADS

# What a gradient column's name looks like once folded: "de/dw1", "detotal/dw1", "de_tot/dw1" -> w1.
_GRADIENT = re.compile(r"^de(?:total|tot)?/?d([wb]\d)$")
# Folded spellings of the forward quantities: a_h1, out_h1, σ(h1), net_h1, …
_ALIASES = {
    **{f"{p}{n}": f"{p}{n}" for p in ("t", "i", "w", "b") for n in range(1, 9)},
    **{f"target{n}": f"t{n}" for n in (1, 2)},
    **{f"input{n}": f"i{n}" for n in (1, 2)},
    **{f"{unit}{n}": f"{unit}{n}" for unit in ("h", "o") for n in (1, 2)},
    **{f"net{unit}{n}": f"{unit}{n}" for unit in ("h", "o") for n in (1, 2)},
    **{
        f"{prefix}{unit}{n}": f"a_{unit}{n}"
        for prefix in ("a", "out", "σ", "sigma", "act")
        for unit in ("h", "o")
        for n in (1, 2)
    },
    "e1": "E1",
    "e2": "E2",
    **dict.fromkeys(("etotal", "etot", "e", "totalerror", "errortotal", "loss"), "E_total"),
}
# A labelled η cell: the label, folded.
ETA_LABELS = frozenset({"η", "eta", "lr", "learningrate", "alpha", "α", "learningrateη", "η(learningrate)"})


def fold(text: str) -> str:
    """The part of a header text that names a column: lower case, no spaces, separators or subscripts."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = text.replace("∂", "d").replace("δ", "d")
    text = re.sub(r"[\s_{}\[\]()'\"`:=*.,;-]+", "", text)
    return text


def column_name(text: str) -> str | None:
    """The column a header cell names (one of NAMES), or None."""
    folded = fold(text)
    if not folded or len(folded) > 40:
        return None
    m = _GRADIENT.match(folded)
    if m:
        name = f"dE/d{m.group(1)}"
        return name if name in GRADS else None
    name = _ALIASES.get(folded)
    return name if name in NAMES else None


def is_eta_label(text: str) -> bool:
    return fold(text) in ETA_LABELS or unicodedata.normalize("NFKC", text).strip().lower() in ETA_LABELS


def label(name: str) -> str:
    """A column's name in the documents' notation, for sentences: dE/dw3 -> ∂E/∂w3."""
    return name.replace("dE/d", "∂E/∂") if name.startswith("dE/d") else name
