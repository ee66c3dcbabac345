"""Test helpers for any generated .xlsx: recalculate it in a real engine, look for error cells, find and
edit the cells behind defined names.

    from spreadsheet import libreoffice_recalc, error_cells, named_cell, set_named_cells

`libreoffice_recalc` is excelgen/tools/libreoffice.py's `recalc` (the bench and docs/render.py use it too).
`gnumeric_convert` saves a file through Gnumeric's ssconvert (tests marked ``gnumeric``, same rule).

Tests marked ``@pytest.mark.libreoffice`` get `require_libreoffice()` applied by tests/conftest.py: they skip
with a reason when soffice is absent, and fail instead when the environment says CI=true (CI installs it).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from excelgen.tools.libreoffice import recalc as libreoffice_recalc
from excelgen.tools.libreoffice import recalc_many as libreoffice_recalc_many
from excelgen.tools.libreoffice import soffice

__all__ = [
    "ERROR_VALUES",
    "error_cells",
    "gnumeric_convert",
    "in_ci",
    "libreoffice_recalc",
    "libreoffice_recalc_many",
    "named_cell",
    "named_ref",
    "require_gnumeric",
    "require_libreoffice",
    "set_named_cells",
    "set_named_cells_keep_cache",
]

# What Excel and LibreOffice store in a cell whose formula failed. LibreOffice's own codes (Err:502 and
# friends) can reach a file too, as text.
ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str, what: str) -> NoReturn:
    """Skip the test because `reason`; under CI=true fail it instead, since .ci/run installs `what`."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true makes the {what} tests mandatory)", pytrace=False)
    pytest.skip(reason)


def require_libreoffice() -> str:
    """The soffice path; otherwise skip the test (fail it under CI=true, where LibreOffice is mandatory)."""
    exe = soffice()
    if exe is None:
        unavailable(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui", "LibreOffice"
        )
    return exe


def require_gnumeric() -> str:
    """The ssconvert path; otherwise skip the test (fail it under CI=true: .ci/run installs Gnumeric)."""
    exe = shutil.which("ssconvert")
    if exe is None:
        unavailable("Gnumeric (ssconvert) is not installed: apt-get install gnumeric", "Gnumeric")
    return exe


def gnumeric_convert(src: Path, dst: Path, timeout: float = 300) -> Path:
    """Open `src` in Gnumeric and save it as .xlsx at `dst` (a user's round trip through another program)."""
    proc = subprocess.run(
        [require_gnumeric(), str(src), str(dst)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0 or not dst.exists():
        raise RuntimeError(f"ssconvert failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return dst


def _is_error(cell) -> bool:
    value = cell.value
    if cell.data_type == "e":
        return True
    return isinstance(value, str) and (value in ERROR_VALUES or value.startswith("Err:"))


def error_cells(path: Path) -> list[tuple[str, str, str]]:
    """Every cell of every sheet whose cached value is a spreadsheet error, as (sheet, coordinate, value)."""
    book = load_workbook(path, data_only=True, read_only=True)
    try:
        return [
            (sheet.title, cell.coordinate, str(cell.value))
            for sheet in book.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None and _is_error(cell)
        ]
    finally:
        book.close()


def named_cell(book, name: str):
    """The single cell a workbook-level defined name points at (openpyxl workbook, either mode)."""
    sheet, ref = named_ref(book, name)
    return book[sheet][ref]


def named_ref(book, name: str) -> tuple[str, str]:
    """(sheet title, "E4") of the single cell a workbook-level defined name points at."""
    (sheet, ref), *rest = list(book.defined_names[name].destinations)
    assert not rest, f"{name} names more than one range"
    return sheet, ref.replace("$", "")


def set_named_cells(src: Path, dst: Path, values: Mapping[str, object]) -> None:
    """Save a copy of `src` as `dst` with the cells behind the given defined names set to new values.

    openpyxl keeps the formulas but drops every cached result, so only an engine that recalculates can
    give the copy its numbers back.
    """
    book = load_workbook(src)
    for name, value in values.items():
        named_cell(book, name).value = value
    book.save(dst)


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> its part name in the package ("xl/worksheets/sheet1.xml")."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_PKG_REL}Relationship")}
    parts = {}
    for sheet in book.iter(f"{_MAIN}sheet"):
        target = targets[sheet.get(f"{_REL}id")]
        parts[sheet.get("name")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        )
    return parts


def set_named_cells_keep_cache(src: Path, dst: Path, values: Mapping[str, float]) -> None:
    """Like set_named_cells, but rewrites only those cells' XML: every formula keeps its now stale cached
    value, so the copy shows the old numbers unless the engine really recalculates on load."""
    book = load_workbook(src, read_only=True)
    edits: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        sheet, ref = named_ref(book, name)
        edits.setdefault(sheet, {})[ref] = value
    book.close()
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        parts = {_sheet_parts(old)[sheet]: cells for sheet, cells in edits.items()}
        for info in old.infolist():
            data = old.read(info)
            for ref, value in parts.get(info.filename, {}).items():
                cell = re.compile(rf'<c r="{ref}"( s="\d+")?( t="n")?>(<v>[^<]*</v>)?</c>'.encode())
                data, count = cell.subn(rf'<c r="{ref}"\1><v>{float(value)!r}</v></c>'.encode(), data)
                assert count == 1, f"{ref} in {info.filename} is not a plain number cell"
            new.writestr(info, data)
