"""The README's grading example, rerunnable: build a small class of submissions, grade it with
`excelgen grade`, and render the gradebook's first sheet and its score chart as PNG.

    python docs/grade_demo.py     # -> output/grade-demo/ (class/, gradebook.xlsx, .csv), docs/img/grade_*.png

The class: a right sheet in other spellings at another place on its sheet, the circulating course sheet's slip
(a_h1·(1 − a_h1) in ∂E/∂w3 and ∂E/∂w4), a forgotten ½, an update with the wrong sign, a typed slip at
iteration 3, all built as students build them (tests/student_sheets.py: openpyxl formulas) and recalculated by
headless LibreOffice; and three files the grader refuses: an old .xls, a sheet calling WEBSERVICE, and a sheet
saved without values. The pictures go through docs/render.py's print-to-PDF path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import Workbook

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "docs")]

from render import print_copy, to_pdf, to_png  # noqa: E402
from student_sheets import OTHER_SPELLINGS, build  # noqa: E402

from excelgen.tools.libreoffice import recalc_many  # noqa: E402

OUT = ROOT / "output" / "grade-demo"
IMG = ROOT / "docs" / "img"


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "class").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        made = [
            build(t / "ada.xlsx", spellings=OTHER_SPELLINGS, top=8, left=4),
            build(t / "ben.xlsx", mistake="sigma_mixup"),
            build(t / "cho.xlsx", mistake="no_half"),
            build(t / "dev.xlsx", mistake="update_sign", eta=0.8),
            build(t / "eli.xlsx", typed={("h1", 3): 0.03}),
        ]
        for path in recalc_many(made, t):
            shutil.copyfile(path, OUT / "class" / path.name)
    build(OUT / "class" / "fay.xlsx")  # saved by openpyxl: formulas without values
    (OUT / "class" / "gus.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    book = Workbook()
    book.active["A1"] = '=WEBSERVICE("http://example.com/answers")'
    book.save(OUT / "class" / "hal.xlsx")

    gradebook = OUT / "gradebook.xlsx"
    cmd = [sys.executable, "-m", "excelgen", "grade", "class"]
    cmd += ["--out", "gradebook.xlsx", "--csv", "gradebook.csv"]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=OUT, check=True)
    print(f"$ cd {OUT.relative_to(ROOT)} && excelgen grade {' '.join(cmd[4:])}")
    print(run.stdout, end="")

    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        copies = {
            "grade_gradebook.png": ("Gradebook", "$A$1:$K$9", t / "gradebook-rows.xlsx", 150),
            "grade_scores.png": ("Scores", "$A$1:$L$16", t / "gradebook-scores.xlsx", 90),
        }
        for sheet, area, copy, _ in copies.values():
            print_copy(gradebook, sheet, area, None, copy)
        pdfs = to_pdf([copy for _, _, copy, _ in copies.values()], t)
        for (name, (*_, dpi)), pdf in zip(copies.items(), pdfs, strict=True):
            to_png(pdf, IMG / name, dpi)
            print(f"wrote {IMG / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
