"""Write the workbook: Backprop, one sheet per learning rate, LR sweep, Check.

Every formula cell carries numpy's value (reference.run_all) as its cached result, so a viewer that does
not recalculate still shows the right numbers; Excel recalculates on load anyway.

The sheets are written in xlsxwriter's constant-memory mode, row by row, so 10,000 iterations × 7 rates
stay well under a gigabyte.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import numpy as np
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from xlsxedit.ownership import MARK_NAME, Owner, mark_formula, new_token, owner_property, token_property
from xlsxedit.package import Package

from .model.config import Config
from .model.reference import run_all
from .sheets import formats as fmt
from .sheets import layout
from .sheets.backprop.exercise import hide_elsewhere
from .sheets.backprop.sheet import write_backprop
from .sheets.check import write_check
from .sheets.fastsheet import FormulaWorksheet
from .sheets.rates import write_lr_sheet
from .sheets.sweep import write_sweep

# Table rows in all (about 3 KB of XML each, 0.5 KB compressed) past which a part or the archive may pass
# the 2 GB that plain zip allows; ZIP64 only then, as some Excel versions warn about it where not needed.
_ZIP64_TABLE_ROWS = 500_000

Runs = dict[float, dict[str, np.ndarray]]


def _legacy_sheets(book: Package) -> list[str]:
    """Workbooks written before excelgen recorded its sheets are known by the note excelgen wrote in their
    properties; in those its sheets are the ones with its names."""
    if not book.core_properties().get("description", "").startswith(layout.WRITTEN_BY):
        return []
    return [name for name in book.sheet_names() if layout.is_sheet_name(name)]


# How a workbook records which sheets are excelgen's (xlsxedit.ownership), and knows them in older files.
OWNER = Owner("excelgen", legacy=_legacy_sheets, owns_name=layout.owns_name, at_start=True)


def write_workbook(
    config: Config,
    path: Path,
    tmpdir: Path | None = None,
    runs: Runs | None = None,
    created: datetime | None = None,
) -> Runs:
    """Write the .xlsx for `config` at `path` (OWNER.update makes that safe); returns the reference
    runs (reference.run_all) whose values it cached, so that callers need not compute them again.

    xlsxwriter keeps its working files in `tmpdir` (default: the system's), which the caller removes.
    `created` fixes the date the properties give (default: now), for files that must be the same bytes
    every time (a class set's keys).
    """
    runs = run_all(config) if runs is None else runs
    backprop_run = runs[layout.backprop_lr(config)]
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    if tmpdir is not None:
        options["tmpdir"] = str(tmpdir)
    book = Workbook(str(path), options)
    if (config.training.iterations + 1) * len(layout.table_sheets(config)) > _ZIP64_TABLE_ROWS:
        book.use_zip64()
    book.set_properties(
        {
            "title": "Backpropagation, step by step",
            "subject": "A 2-2-2 sigmoid network trained by gradient descent at several learning rates",
            "comments": "Written by excelgen; every table cell is a live formula.",
            **({"created": created} if created is not None else {}),
        }
    )
    for k, name in enumerate(layout.sheet_names(config), start=1):
        book.set_custom_property(owner_property(OWNER.name, k), name)
    # The records as xlsxedit.ownership.set_owned_sheets writes them: a token, and a mark on each sheet below.
    # A file that must be the same bytes every time gets a token from what it holds instead of a random one.
    token = (
        new_token() if created is None else hashlib.sha256(f"{created} {config!r}".encode()).hexdigest()[:12]
    )
    book.set_custom_property(token_property(OWNER.name), token)
    formats = fmt.create(book)

    def sheet(name: str) -> Worksheet:
        return book.add_worksheet(name, worksheet_class=FormulaWorksheet)

    backprop = sheet(layout.BACKPROP)
    lr_sheets = [sheet(layout.lr_sheet_name(lr)) for lr in config.training.learning_rates]
    sweep = sheet(layout.SWEEP)
    check = sheet(layout.CHECK)

    # Before the sheets' own conditional formats: exercise mode's must win where both apply.
    others = {ws.name: ws for ws in (*lr_sheets, sweep, check)}
    hide_elsewhere(others, config, formats)
    write_backprop(book, backprop, config, backprop_run, formats)
    for lr, ws in zip(config.training.learning_rates, lr_sheets, strict=True):
        write_lr_sheet(book, ws, config, lr, runs[lr], formats)
    write_sweep(book, sweep, config, runs, formats)
    write_check(check, config, runs, formats)

    for name, (sheet_name, row, col) in layout.named_cells(config).items():
        book.define_name(name, "=" + layout.ref(sheet_name, row, col))
    for name in layout.sheet_names(config):
        book.define_name(f"{quote_sheetname(name)}!{MARK_NAME}", "=" + mark_formula(OWNER.name, token, name))

    try:
        book.close()
    except FileCreateError as exc:  # the OSError underneath, for the caller's one-line message
        cause = exc.args[0] if exc.args else exc
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from exc
    return runs
