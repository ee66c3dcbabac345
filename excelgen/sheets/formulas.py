"""Formula text the sheets share: each mirrors a function of model/reference.py operation for operation.

The table and the gradient check both spell the forward pass (`forward`); the gradient check and the Check
sheet both compare two numbers (`rel_diff`).
"""

from __future__ import annotations

from collections.abc import Callable


def sigmoid(x: str) -> str:
    """σ(x) without overflow: no EXP argument is ever positive (reference.sigmoid, same operations)."""
    return f"EXP(MIN({x},0))/(1+EXP(-ABS({x})))"


def forward(v: Callable[[str], str]) -> dict[str, str]:
    """The forward pass as formula text, h1 … E_total, each from v(name) of what it reads.

    The table passes the cells of the row; the gradient check passes iteration 0's cells with one parameter
    moved. Without bias columns the (untrained) biases come from their named cells, so editing one counts.
    """
    return {
        "h1": f"{v('w1')}*{v('i1')}+{v('w2')}*{v('i2')}+{v('b1')}",
        "a_h1": sigmoid(v("h1")),
        "h2": f"{v('w3')}*{v('i1')}+{v('w4')}*{v('i2')}+{v('b1')}",
        "a_h2": sigmoid(v("h2")),
        "o1": f"{v('w5')}*{v('a_h1')}+{v('w6')}*{v('a_h2')}+{v('b2')}",
        "a_o1": sigmoid(v("o1")),
        "o2": f"{v('w7')}*{v('a_h1')}+{v('w8')}*{v('a_h2')}+{v('b2')}",
        "a_o2": sigmoid(v("o2")),
        "E1": f"0.5*({v('t1')}-{v('a_o1')})^2",
        "E2": f"0.5*({v('t2')}-{v('a_o2')})^2",
        "E_total": f"{v('E1')}+{v('E2')}",
    }


def rel_diff(a: str, b: str, floor: float = 0.0) -> str:
    """|a − b| / max(|a|, |b|, floor), 0 when that is 0: reference.rel_diff as a formula."""
    if floor > 0:
        literal = repr(floor).upper()  # 1E-20: the spelling every spreadsheet parses
        return f"=ABS({a}-{b})/MAX(ABS({a}),ABS({b}),{literal})"
    scale = f"MAX(ABS({a}),ABS({b}))"
    return f"=IF({scale}=0,0,ABS({a}-{b})/{scale})"
