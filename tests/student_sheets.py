"""Student sheets for the grader's tests, built the way students build them: openpyxl formulas in the
documents' layout (t1, t2, i1, i2, w1…w4, h1, a_h1, h2, a_h2, w5…w8, o1, a_o1, o2, a_o2, E1, E2, E_total,
∂E/∂w1…∂E/∂w8, a row per iteration, an η cell), anywhere on the sheet, in any spelling, with a mistake from
the catalogue planted where asked. openpyxl saves no values: recalculate with libreoffice_recalc_many.

    build(path, mistake="sigma_mixup", top=6, left=2, spellings=OTHER_SPELLINGS)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from excelgen.model.config import Network

ORDER = (
    "t1", "t2", "i1", "i2", "w1", "w2", "w3", "w4", "h1", "a_h1", "h2", "a_h2", "w5", "w6", "w7", "w8",
    "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total",
    "dE/dw1", "dE/dw2", "dE/dw3", "dE/dw4", "dE/dw5", "dE/dw6", "dE/dw7", "dE/dw8",
)  # fmt: skip
OTHER_SPELLINGS = {
    "E_total": "E_tot",
    "dE/dw1": "∂E_total/∂w1",
    "dE/dw2": "dEtotal/dw2",
    "dE/dw3": "∂E/∂w₃",
    "a_h1": "out_h1",
    "a_o2": "σ(o2)",
    "h2": "net h2",
    "E1": "E₁",
    "w5": "W5",
}
# The column each planted mistake makes wrong (and only those).
PLANTED = {
    "sigma_mixup": ("dE/dw3", "dE/dw4"),
    "hidden_swapped": ("dE/dw1", "dE/dw2", "dE/dw3", "dE/dw4"),
    "hidden_transposed": ("dE/dw1", "dE/dw2", "dE/dw3", "dE/dw4"),
    "updated_weights": ("dE/dw1", "dE/dw2", "dE/dw3", "dE/dw4"),
    "no_sigma_prime": ("dE/dw5",),
    "sign": ("dE/dw5", "dE/dw6", "dE/dw7", "dE/dw8"),
    "inputs_swapped": ("dE/dw1",),
    "activation_swapped": ("dE/dw5",),
    "output_swapped": ("dE/dw7",),
    "h_for_a": ("o1",),
    "o_for_a": ("E1",),
    "no_half": ("E1", "E2"),
    "mean_error": ("E_total",),
    "forward_transposed": ("h1",),
    "update_sign": ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"),
    "not_updated": ("w1",),
    "wrong_gradient": ("w1",),
    "no_eta": ("w1",),
}


def formulas(c, p, n, eta: str, mistake: str | None) -> dict[str, str]:
    """Every computed column's formula in one row: c(name) is this row's cell, p(name) the row above's,
    n(name) the row below's; `eta` the η cell's absolute reference."""

    def d_o(k: int, sign: str = "a-t") -> str:
        a, t = c(f"a_o{k}"), c(f"t{k}")
        diff = f"({a}-{t})" if sign == "a-t" else f"({t}-{a})"
        return f"{diff}*{a}*(1-{a})"

    def hidden(unit: int, x: str, w_a: str, w_b: str, act: str | None = None, at=c) -> str:
        act = act or c(f"a_h{unit}")
        return f"=({d_o(1)}*{at(w_a)}+{d_o(2)}*{at(w_b)})*{act}*(1-{act})*{c(x)}"

    f = {
        "h1": f"={c('w1')}*{c('i1')}+{c('w2')}*{c('i2')}",
        "a_h1": f"=1/(1+EXP(-{c('h1')}))",
        "h2": f"={c('w3')}*{c('i1')}+{c('w4')}*{c('i2')}",
        "a_h2": f"=1/(1+EXP(-{c('h2')}))",
        "o1": f"={c('w5')}*{c('a_h1')}+{c('w6')}*{c('a_h2')}",
        "a_o1": f"=1/(1+EXP(-{c('o1')}))",
        "o2": f"={c('w7')}*{c('a_h1')}+{c('w8')}*{c('a_h2')}",
        "a_o2": f"=1/(1+EXP(-{c('o2')}))",
        "E1": f"=0.5*({c('t1')}-{c('a_o1')})^2",
        "E2": f"=0.5*({c('t2')}-{c('a_o2')})^2",
        "E_total": f"={c('E1')}+{c('E2')}",
        "dE/dw1": hidden(1, "i1", "w5", "w7"),
        "dE/dw2": hidden(1, "i2", "w5", "w7"),
        "dE/dw3": hidden(2, "i1", "w6", "w8"),
        "dE/dw4": hidden(2, "i2", "w6", "w8"),
        "dE/dw5": f"={d_o(1)}*{c('a_h1')}",
        "dE/dw6": f"={d_o(1)}*{c('a_h2')}",
        "dE/dw7": f"={d_o(2)}*{c('a_h1')}",
        "dE/dw8": f"={d_o(2)}*{c('a_h2')}",
    }
    if p is not None:
        for x in ("t1", "t2", "i1", "i2"):
            f[x] = f"={p(x)}"
        for w in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"):
            f[w] = f"={p(w)}-{eta}*{p('dE/d' + w)}"
    if mistake == "sigma_mixup":
        f["dE/dw3"] = hidden(2, "i1", "w6", "w8", act=c("a_h1"))
        f["dE/dw4"] = hidden(2, "i2", "w6", "w8", act=c("a_h1"))
    elif mistake == "hidden_swapped":
        f["dE/dw1"], f["dE/dw2"] = hidden(1, "i1", "w6", "w8"), hidden(1, "i2", "w6", "w8")
        f["dE/dw3"], f["dE/dw4"] = hidden(2, "i1", "w5", "w7"), hidden(2, "i2", "w5", "w7")
    elif mistake == "hidden_transposed":
        f["dE/dw1"], f["dE/dw2"] = hidden(1, "i1", "w5", "w6"), hidden(1, "i2", "w5", "w6")
        f["dE/dw3"], f["dE/dw4"] = hidden(2, "i1", "w7", "w8"), hidden(2, "i2", "w7", "w8")
    elif mistake == "updated_weights":
        f["dE/dw1"], f["dE/dw2"] = hidden(1, "i1", "w5", "w7", at=n), hidden(1, "i2", "w5", "w7", at=n)
        f["dE/dw3"], f["dE/dw4"] = hidden(2, "i1", "w6", "w8", at=n), hidden(2, "i2", "w6", "w8", at=n)
    elif mistake == "no_sigma_prime":
        f["dE/dw5"] = f"=({c('a_o1')}-{c('t1')})*{c('a_h1')}"
    elif mistake == "sign":
        for w, k, a in (("w5", 1, "a_h1"), ("w6", 1, "a_h2"), ("w7", 2, "a_h1"), ("w8", 2, "a_h2")):
            f[f"dE/d{w}"] = f"={d_o(k, 't-a')}*{c(a)}"
    elif mistake == "inputs_swapped":
        f["dE/dw1"] = hidden(1, "i2", "w5", "w7")
    elif mistake == "activation_swapped":
        f["dE/dw5"] = f"={d_o(1)}*{c('a_h2')}"
    elif mistake == "output_swapped":
        f["dE/dw7"] = f"={d_o(1)}*{c('a_h1')}"
    elif mistake == "h_for_a":
        f["o1"] = f"={c('w5')}*{c('h1')}+{c('w6')}*{c('h2')}"
    elif mistake == "o_for_a":
        f["E1"] = f"=0.5*({c('t1')}-{c('o1')})^2"
    elif mistake == "no_half":
        f["E1"] = f"=({c('t1')}-{c('a_o1')})^2"
        f["E2"] = f"=({c('t2')}-{c('a_o2')})^2"
    elif mistake == "mean_error":
        f["E_total"] = f"=({c('E1')}+{c('E2')})/2"
    elif mistake == "forward_transposed":
        f["h1"] = f"={c('w1')}*{c('i1')}+{c('w3')}*{c('i2')}"
    elif p is not None and mistake == "update_sign":
        for w in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"):
            f[w] = f"={p(w)}+{eta}*{p('dE/d' + w)}"
    elif p is not None and mistake == "not_updated":
        f["w1"] = f"={p('w1')}"
    elif p is not None and mistake == "wrong_gradient":
        f["w1"] = f"={p('w1')}-{eta}*{p('dE/dw2')}"
    elif p is not None and mistake == "no_eta":
        f["w1"] = f"={p('w1')}-{p('dE/dw1')}"
    return f


def build(
    path: Path,
    *,
    mistake: str | None = None,
    iterations: int = 10,
    eta: float = 0.5,
    top: int = 6,
    left: int = 2,
    spellings: Mapping[str, str] | None = None,
    order: tuple[str, ...] = ORDER,
    eta_label: str | None = "η",
    typed: Mapping[tuple[str, int], object] | None = None,
    network: Network | None = None,
    title: str = "Backpropagation by hand",
) -> Path:
    """Write a student's sheet: the header on row `top` (0-based) from column `left`, iteration 0 below it,
    the η cell (label + value) at B3, `typed` values {(column, iteration): value} replacing formulas."""
    network = network or Network()
    spellings = spellings or {}
    book = Workbook()
    sheet = book.active
    sheet.title = "Assignment"
    sheet["A1"] = title
    if eta_label is not None:
        sheet["B3"] = eta_label
        sheet["C3"] = eta
        eta_ref = "$C$3"
    else:
        eta_ref = repr(float(eta))
    col = {name: left + 1 + k for k, name in enumerate(order)}  # 1-based for openpyxl
    for name, c in col.items():
        sheet.cell(row=top + 1, column=c, value=spellings.get(name, name))

    def ref(name: str, row: int) -> str:
        return f"{get_column_letter(col[name])}{row}"

    for k in range(iterations + 1):
        row = top + 2 + k

        def this(name: str, row: int = row) -> str:
            return ref(name, row)

        def above(name: str, row: int = row) -> str:
            return ref(name, row - 1)

        def below(name: str, row: int = row) -> str:
            return ref(name, row + 1)

        f = formulas(this, above if k else None, below, eta_ref, mistake)
        for name in order:
            value = f.get(name)
            if value is None:  # row 0's t, i and weights: the student's starting point
                value = float(getattr(network, name))
            if typed and (name, k) in typed:
                value = typed[(name, k)]
            sheet.cell(row=row, column=col[name], value=value)
    sheet.cell(row=top + iterations + 4, column=left + 1, value="Notes: E_total falls as the weights learn.")
    book.save(path)
    return path


def build_typed(
    path: Path,
    values: Mapping[str, object],
    *,
    top: int = 3,
    left: int = 1,
    eta: float | None = 0.5,
    edits: Mapping[tuple[str, int], object] | None = None,
) -> Path:
    """A sheet of typed numbers (no formulas): `values` maps a column name to its numbers, one per iteration
    (reference.trajectory's output works); `edits` replaces single cells, e.g. {("h1", 3): "#DIV/0!"}
    (openpyxl stores that text as an error value, as a spreadsheet would)."""
    book = Workbook()
    sheet = book.active
    if eta is not None:
        sheet["A1"], sheet["B1"] = "learning rate", eta
    names = [n for n in ORDER if n in values]
    for j, name in enumerate(names):
        sheet.cell(row=top + 1, column=left + 1 + j, value=name)
        for k, v in enumerate(values[name]):
            value = (edits or {}).get((name, k), float(v))
            sheet.cell(row=top + 2 + k, column=left + 1 + j, value=value)
    book.save(path)
    return path
