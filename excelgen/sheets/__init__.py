"""The teaching sheets, written with xlsxwriter: where every cell lives (layout), the formulas, charts,
cells and formats they share, the iteration table, the Backprop sheet (backprop/), the learning-rate sheets
(rates), LR sweep (sweep) and Check (check)."""
