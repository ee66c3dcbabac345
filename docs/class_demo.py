"""The README's class-set example, rerunnable: a roster of five, `excelgen class`, three students' files
filled as students fill them and recalculated by headless LibreOffice, `excelgen grade --class`, and
pictures of a student's sheet and of the class gradebook.

    python docs/class_demo.py   # -> output/class-demo/ (roster.csv, class/, submissions/), docs/img/class_*

The submissions: ada's right (formulas reading her named inputs), ben's without the ½ in E1 and E2, cho's a
copy of ada's handed in under her own name; dev and eve hand in nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "docs")]

from class_sheets import fill  # noqa: E402
from render import print_copy, to_pdf, to_png  # noqa: E402

from excelgen.tools.libreoffice import recalc_many  # noqa: E402

OUT = ROOT / "output" / "class-demo"
IMG = ROOT / "docs" / "img"
ROSTER = """Student ID,Name,Email
ada,Ada Lovelace,ada@uni.example
ben,Ben Okafor,ben@uni.example
cho,Cho Min-jun,cho@uni.example
dev,Dev Patel,dev@uni.example
eve,"=HYPERLINK(""http://evil.example"")",eve@uni.example
"""


def run(*args: str) -> str:
    cmd = [sys.executable, "-m", "excelgen", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=OUT, check=True)
    print(f"$ excelgen {' '.join(args)}")
    print(done.stdout + done.stderr, end="")
    return done.stdout


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    (OUT / "roster.csv").write_text(ROSTER, encoding="utf-8")
    run("class", "roster.csv", "--out", "class", "--seed", "2026", "--iterations", "20")
    students = OUT / "class" / "students"
    subs = OUT / "submissions"
    subs.mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        made = [
            fill(students / "ada.xlsx", t / "ada.xlsx"),
            fill(students / "ben.xlsx", t / "ben.xlsx", "no_half"),
        ]
        for path in recalc_many(made, t):
            shutil.copyfile(path, subs / path.name)
    shutil.copyfile(subs / "ada.xlsx", subs / "cho.xlsx")
    run("grade", "--class", "class", "submissions/ada.xlsx", "submissions/ben.xlsx", "submissions/cho.xlsx")

    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        copies = {
            "class_student.png": (students / "ben.xlsx", "Backprop", "$A$1:$Q$20", 110),
            "class_gradebook.png": (OUT / "class" / "gradebook.xlsx", "Gradebook", "$A$1:$I$6", 130),
        }
        staged = []
        for k, (source, sheet, area, _) in enumerate(copies.values()):
            staged.append(t / f"copy{k}.xlsx")
            print_copy(source, sheet, area, None, staged[-1])
        for (name, (*_, dpi)), pdf in zip(copies.items(), to_pdf(staged, t), strict=True):
            to_png(pdf, IMG / name, dpi)
            print(f"wrote {IMG / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
