"""The one way this project writes a workbook file: excelgen (re)generating its sheets, the trainer its own
(both through ownership.Owner.update).

`update_workbook(path, change)` guarantees, for every writer:
- a workbook open in Excel or LibreOffice (their lock file beside it) is refused, the file byte-identical;
- a symbolic link is written through to its target, and stays a link;
- writers take turns (an exclusive lock beside the target), so two at once both land, in some order;
- the new file is made in a private folder beside the target (an unpredictable name), flushed to disk and
  renamed over it; any failure, Ctrl-C or SIGTERM leaves the old file as it was and no temporary file behind,
  and what a `kill -9` leaves is removed by the next writer;
- the last BACKUPS versions stay as `<name>.bak.1.xlsx` (the newest) … `<name>.bak.5.xlsx`, each moved by a
  rename and the newest made by a hard link (or a copy) renamed into place, so that none is ever half-written;
- the existing workbook is read as untrusted input, within zipguard.Limits, and refused in one line when it is
  not a workbook this project can edit (a Strict Open XML one included), or when its sheet structure is
  locked: it is never overwritten then.

What belongs to whom is recorded in the file (ownership.py): each program replaces only its own sheets and
defined names, and keeps every other sheet and name, the user's included; a name it needs that is the
user's is a one-line refusal.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import files
from .errors import StrictWorkbook
from .package import Package, PackageError

SUFFIX = ".xlsx"
# Where excelgen and the trainer share their workbook unless told otherwise.
DEFAULT_WORKBOOK = Path("output/backprop.xlsx")
# The longest suffix we add to a workbook's name (a temporary name: ".NAME." + 8 random characters + ".tmp").
_ADDED_CHARS = 16


class WorkbookError(Exception):
    """The workbook cannot be written as asked; the message is one line that says what to do."""


BACKUPS = 5  # versions kept beside a workbook


def backup_paths(target: Path) -> list[Path]:
    """Where the previous versions of a workbook are kept, newest first: backprop.bak.1.xlsx … .bak.5.xlsx."""
    return [target.with_name(f"{target.stem}.bak.{k}{target.suffix}") for k in range(1, BACKUPS + 1)]


def backup_path(target: Path) -> Path:
    """Where the version a write replaces goes (the newest backup): backprop.xlsx -> backprop.bak.1.xlsx."""
    return backup_paths(target)[0]


UNLOCK = (
    "its sheet structure is locked; unlock it (Excel: Review ▸ Protect Workbook; LibreOffice: Tools ▸ "
    "Protect Spreadsheet Structure), then try again; it is unchanged"
)


def lock_files(path: Path) -> list[tuple[Path, str]]:
    """The lock files Excel and LibreOffice keep beside a workbook they have open."""
    return [
        (path.with_name("~$" + path.name), "Excel"),
        (path.with_name(f".~lock.{path.name}#"), "LibreOffice"),
    ]


def check_target(path: Path, open_ok: bool = False) -> Path:
    """The file a write to `path` changes (a link's target), after the checks that need no writing.
    `open_ok` skips the check for a spreadsheet program holding it open (it may close it before we write)."""
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise WorkbookError("the name must end in .xlsx")
    if path.is_dir():
        raise WorkbookError("is a directory; give a file name ending in .xlsx")
    if path.is_symlink() and not path.exists():
        raise WorkbookError("is a symbolic link to nothing; remove it or point it at a workbook")
    target = files.real_target(path)
    folder = target.parent
    if not folder.exists():
        raise WorkbookError(f"folder {str(folder)!r} does not exist; create it first")
    if not folder.is_dir():
        raise WorkbookError(f"{str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkbookError(f"folder {str(folder)!r} is not writable")
    if target.exists() and not target.is_file():  # a pipe or a device: reading it could block forever
        raise WorkbookError("is not a regular file; give a workbook file name")
    if target.exists() and not os.access(target, os.W_OK):
        raise WorkbookError("the file is read-only")
    name_max = _name_max(folder)
    if len(target.name.encode()) + _ADDED_CHARS > name_max:
        raise WorkbookError(f"the file name is too long (at most {name_max - _ADDED_CHARS} bytes here)")
    for lock, program in {*lock_files(path), *lock_files(target)}:
        if lock.exists() and not open_ok:
            raise WorkbookError(f"is open in {program} (lock file {lock.name}); close it, then try again")
    return target


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def update_workbook(path: Path, change: Callable[[Package | None, Path], Path]) -> None:
    """Write the workbook at `path` through the guarantees above.

    `change(existing, folder)` gets the current workbook (None when there is none) and a private folder on
    the target's file system, and returns the path of the complete new workbook it wrote in that folder.
    Raises WorkbookError for anything a user can fix; KeyboardInterrupt (Ctrl-C, SIGTERM) passes through
    after cleaning up.
    """
    target = check_target(path)
    try:
        with files.signals_interrupt(), files.exclusive_lock(target):
            files.remove_leftovers(target)
            existing = _open_existing(target)
            if existing is not None and existing.structure_locked():
                existing.close()
                raise WorkbookError(UNLOCK)
            try:
                with files.private_folder(target) as folder:
                    new = change(existing, folder)
                    if existing is not None:
                        existing.close()
                    files.commit(new, target, backup_paths(target) if existing is not None else ())
            finally:
                if existing is not None:
                    existing.close()
    except files.Busy:
        raise WorkbookError(
            "another excelgen or trainer is writing it and did not finish in time; try again"
        ) from None
    except PackageError as e:
        raise WorkbookError(not_editable(e)) from None
    except OSError as e:
        raise WorkbookError(f"cannot write it ({files.reason(e)}); it is unchanged") from None


def _open_existing(target: Path) -> Package | None:
    if not target.exists():
        return None
    try:
        return Package(target)
    except PackageError as e:
        raise WorkbookError(not_editable(e)) from None


def not_editable(e: PackageError) -> str:
    if isinstance(e, StrictWorkbook):
        return str(e)
    fix = "move it away or write to another file"
    return f"is not a workbook this tool can edit ({e}); it is unchanged: {fix}"
