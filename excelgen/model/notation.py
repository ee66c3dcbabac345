"""The math in the documents' notation: the table's column notes and the Backprop sheet's derivation.

One string per quantity, composed, so a note and the derivation line it matches cannot disagree.
"""

from __future__ import annotations

from .config import Config

SIGMOID = "σ(x) = 1/(1 + e^(−x))"
SIGMOID_CELLS = "EXP(MIN(x,0))/(1+EXP(−ABS(x)))"

H1 = "h1 = w1·i1 + w2·i2 + b1"
H2 = "h2 = w3·i1 + w4·i2 + b1"
O1 = "o1 = w5·a_h1 + w6·a_h2 + b2"
O2 = "o2 = w7·a_h1 + w8·a_h2 + b2"
E1 = "E1 = ½·(t1 − a_o1)²"
E2 = "E2 = ½·(t2 − a_o2)²"
E_TOTAL = "E_total = E1 + E2"

# ∂E_total/∂o1 = ∂E1/∂a_o1 · ∂a_o1/∂o1, and the same for o2.
D_O1 = "(a_o1 − t1)·a_o1·(1 − a_o1)"
D_O2 = "(a_o2 − t2)·a_o2·(1 − a_o2)"
D_AH1 = f"{D_O1}·w5 + {D_O2}·w7"  # ∂E_total/∂a_h1
D_AH2 = f"{D_O1}·w6 + {D_O2}·w8"  # ∂E_total/∂a_h2

GRADIENT = {
    "w1": f"({D_AH1})·a_h1·(1 − a_h1)·i1",
    "w2": f"({D_AH1})·a_h1·(1 − a_h1)·i2",
    "w3": f"({D_AH2})·a_h2·(1 − a_h2)·i1",
    "w4": f"({D_AH2})·a_h2·(1 − a_h2)·i2",
    "w5": f"{D_O1}·a_h1",
    "w6": f"{D_O1}·a_h2",
    "w7": f"{D_O2}·a_h1",
    "w8": f"{D_O2}·a_h2",
    "b1": f"({D_AH1})·a_h1·(1 − a_h1) + ({D_AH2})·a_h2·(1 − a_h2)",
    "b2": f"{D_O1} + {D_O2}",
}
CHAIN = {
    "w1": "∂E_total/∂a_h1 · ∂a_h1/∂h1 · ∂h1/∂w1",
    "w2": "∂E_total/∂a_h1 · ∂a_h1/∂h1 · ∂h1/∂w2",
    "w3": "∂E_total/∂a_h2 · ∂a_h2/∂h2 · ∂h2/∂w3",
    "w4": "∂E_total/∂a_h2 · ∂a_h2/∂h2 · ∂h2/∂w4",
    "w5": "∂E1/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w5",
    "w6": "∂E1/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w6",
    "w7": "∂E2/∂a_o2 · ∂a_o2/∂o2 · ∂o2/∂w7",
    "w8": "∂E2/∂a_o2 · ∂a_o2/∂o2 · ∂o2/∂w8",
    "b1": "∂E_total/∂h1 + ∂E_total/∂h2 (b1 feeds both hidden units)",
    "b2": "∂E_total/∂o1 + ∂E_total/∂o2 (b2 feeds both outputs)",
}
EDGES = {  # weight -> (from, to)
    "w1": ("i1", "h1"),
    "w2": ("i2", "h1"),
    "w3": ("i1", "h2"),
    "w4": ("i2", "h2"),
    "w5": ("a_h1", "o1"),
    "w6": ("a_h2", "o1"),
    "w7": ("a_h1", "o2"),
    "w8": ("a_h2", "o2"),
}
UPDATE = "w ← w − η·∂E_total/∂w"

# The two questions learners ask about this example.
OLD_WEIGHTS = "every gradient taken at the row's own (old) weights"
BIAS_SHIFT = "b1 shifts h1 and h2 alike, b2 shifts o1 and o2"
D_B1 = "∂E_total/∂h1 + ∂E_total/∂h2"  # b1 feeds both hidden units
D_B2 = "∂E_total/∂o1 + ∂E_total/∂o2"  # b2 feeds both outputs


def gradient(param: str) -> str:
    return f"∂E_total/∂{param} = {GRADIENT[param]}"


def derivation(config: Config) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """The Backprop sheet's derivation in two blocks side by side, one (line, is_heading) per row."""
    forward_and_output = [
        ("Forward pass", True),
        (f"{H1}     {H2}     a_h1 = σ(h1)     a_h2 = σ(h2)     {SIGMOID}", False),
        (f"{O1}     {O2}     a_o1 = σ(o1)     a_o2 = σ(o2)", False),
        (f"{E1}     {E2}     {E_TOTAL}", False),
        ("Output layer: ∂E_total/∂w5 = ∂E1/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w5", True),
        ("∂E1/∂a_o1 = a_o1 − t1     ∂a_o1/∂o1 = a_o1·(1 − a_o1)     ∂o1/∂w5 = a_h1", False),
        (f"{gradient('w5')}     {gradient('w6')}", False),
        (f"{gradient('w7')}     {gradient('w8')}", False),
        (f"Update, all at once: {UPDATE}, {OLD_WEIGHTS}", True),
        (f"In the cells σ(x) is {SIGMOID_CELLS}: the same number, but EXP never overflows at any η.", False),
    ]
    hidden = [
        ("Hidden layer: each hidden unit feeds both outputs, through this row's w5…w8", True),
        (f"∂E_total/∂a_h1 = {D_AH1}", False),
        (f"∂E_total/∂a_h2 = {D_AH2}", False),
        *((gradient(w), False) for w in ("w1", "w2", "w3", "w4")),
        ("w5…w8 here are the old weights: no weight moves until the whole row's gradients are taken.", False),
    ]
    if config.training.train_biases:
        hidden += [
            (f"Biases, trained like the weights: {BIAS_SHIFT}", True),
            (f"∂E_total/∂b1 = {D_B1}     ∂E_total/∂b2 = {D_B2}", False),
        ]
    elif config.has_biases:
        hidden += [
            (f"Biases, held fixed (train_biases = false): {BIAS_SHIFT}", True),
            (
                "constants: every activation, error and gradient after them changes, but they never step",
                False,
            ),
        ]
    else:
        hidden.append((f"Biases are 0 here: {BIAS_SHIFT}; set bias_b1 or bias_b2 to see it", False))
    return forward_and_output, hidden


def column_note(name: str, trained_biases: bool) -> str:
    """The note on a table column's header: what the column is, in the documents' notation."""
    if name in ("t1", "t2"):
        out = "o1" if name == "t1" else "o2"
        return f"{name}: the target for {out} (named cell target_{name}); every row repeats it."
    if name in ("i1", "i2"):
        return f"{name}: an input (named cell input_{name}); every row repeats it."
    if name in EDGES:
        src, dst = EDGES[name]
        return (
            f"{name}: the weight {src} → {dst}. Iteration 0 reads init_{name}; each later row is "
            f"{name} − η·∂E_total/∂{name} of the row above."
        )
    if name in ("b1", "b2"):
        into = "h1 and h2" if name == "b1" else "o1 and o2"
        how = (
            f"{name} − η·∂E_total/∂{name} of the row above"
            if trained_biases
            else "the row above (not trained)"
        )
        return f"{name}: the bias into {into}. Iteration 0 reads bias_{name}; each later row is {how}."
    forward = {
        "h1": f"{H1}: the net input of hidden unit 1.",
        "h2": f"{H2}: the net input of hidden unit 2.",
        "a_h1": f"a_h1 = σ(h1), {SIGMOID}; in the cell {SIGMOID_CELLS.replace('x', 'h1')}.",
        "a_h2": f"a_h2 = σ(h2), {SIGMOID}; in the cell {SIGMOID_CELLS.replace('x', 'h2')}.",
        "o1": f"{O1}: the net input of output 1.",
        "o2": f"{O2}: the net input of output 2.",
        "a_o1": "a_o1 = σ(o1): output 1.",
        "a_o2": "a_o2 = σ(o2): output 2.",
        "E1": f"{E1}: the error of output 1.",
        "E2": f"{E2}: the error of output 2.",
        "E_total": f"{E_TOTAL}: the loss at this row's weights.",
    }
    if name in forward:
        return forward[name]
    param = name.removeprefix("dE/d")
    note = f"∂E_total/∂{param} = {CHAIN[param]} = {GRADIENT[param]}"
    if param in ("w1", "w2", "w3", "w4", "b1"):
        note += ". w5…w8 are this row's, the old ones: every weight moves only after all gradients are taken."
    return note
