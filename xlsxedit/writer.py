"""The one way this project writes a workbook file: excelgen (re)generating its sheets, the trainer its own.

`update_workbook(path, change)` guarantees, for every writer:
- a workbook open in Excel or LibreOffice (their lock file beside it) is refused, the file byte-identical;
- a symbolic link is written through to its target, and stays a link;
- writers take turns (an exclusive lock beside the target), so two at once both land, in some order;
- the new file is made in a private folder beside the target (an unpredictable name), flushed to disk and
  renamed over it; any failure, Ctrl-C or SIGTERM leaves the old file as it was and no temporary file behind,
  and what a `kill -9` leaves is removed by the next writer;
- the last BACKUPS versions stay as `<name>.bak.1.xlsx` (the newest) … `<name>.bak.5.xlsx`, each moved by a
  rename and the newest made by a hard link (or a copy) renamed into place, so that none is ever half-written;
- the existing workbook is read as untrusted input, within package.Limits, and refused in one line when it is
  not a workbook this project can edit (a Strict Open XML one included), or when its sheet structure is
  locked: it is never overwritten then.

What belongs to whom is recorded in the file (ownership.py): each program replaces only its own sheets and
defined names, and keeps every other sheet and name, the user's included; a name it needs that is the
user's is a one-line refusal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from . import files, ownership
from .package import Package, PackageError, SheetNameTaken, StrictWorkbook

SUFFIX = ".xlsx"
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


# -- what belongs to whom ----------------------------------------------------------------------------------


def owned_sheets(
    book: Package, owner: str, legacy: Callable[[Package], list[str]] | None = None
) -> list[str]:
    """The sheets of `book` that `owner` wrote, as the file records them (ownership.owned_sheets); `legacy`
    answers for files written before any record was kept."""
    return ownership.owned_sheets(book, owner, legacy)


def owned_names(book: Package, owner: str, mine: Sequence[str], claims: Callable[[str], bool]) -> set[str]:
    """The global defined names of `book` that are `owner`'s (lower-cased): see ownership.owns_name."""
    return {d.name.lower() for d in book.defined_names() if ownership.owns_name(d, mine, claims)}


def holds_only_owned(
    book: Package, owner: str, claims: Callable[[str], bool], legacy: Callable[[Package], list[str]] | None
) -> bool:
    """Whether everything of `book` that a whole new workbook would drop is `owner`'s: its sheets, its global
    names and its custom properties (records excepted). Only then may a program write a new file over it."""
    mine = owned_sheets(book, owner, legacy)
    if {s.lower() for s in book.sheet_names()} - {m.lower() for m in mine}:
        return False
    ours = owned_names(book, owner, mine, claims)
    if any(d.local_sheet is None and d.name.lower() not in ours for d in book.defined_names()):
        return False
    return all(ownership.is_record(name) for name in book.custom_property_names())


def name_clash(book: Package, owner: str, scratch: Package, mine: Sequence[str], claims) -> str | None:
    """The refusal when `scratch` defines a global name that `book` has as someone else's, else None."""
    ours = owned_names(book, owner, mine, claims)
    theirs = {d.name.lower(): d for d in book.defined_names() if d.local_sheet is None}
    for d in scratch.defined_names():
        user = theirs.get(d.name.lower())
        if d.local_sheet is None and user is not None and d.name.lower() not in ours:
            return (
                f"has a defined name {user.name!r} (= {user.text}) that {owner} did not write, and {owner} "
                f"needs the name {d.name!r} (= {d.text}); rename yours (Formulas ▸ Name Manager, or Sheet ▸ "
                "Named Ranges in LibreOffice), or write to another file; it is unchanged"
            )
    return None


def replace_owned_sheets(
    book: Package,
    owner: str,
    scratch: Package | None,
    sheets: Sequence[str],
    *,
    keep: Sequence[str] = (),
    at_start: bool = False,
    owns_name: Callable[[str], bool] = lambda name: False,
    legacy: Callable[[Package], list[str]] | None = None,
) -> None:
    """Replace `owner`'s sheets in `book` by scratch's `sheets` (its sheets in `keep` stay as they are) and
    record the result as owner's. `owns_name` says which global names owner may define; of those, only the
    ones pointing at owner's own sheets are replaced. A sheet or a global name of someone else's that owner
    needs is a WorkbookError, the package unchanged."""
    first_record = not ownership.has_records(book)
    mine = owned_sheets(book, owner, legacy)
    kept = {k.lower() for k in keep}
    others = {s.lower(): s for s in book.sheet_names()} if scratch is not None else {}
    for m in mine:
        others.pop(m.lower(), None)
    taken = [others[s.lower()] for s in sheets if s.lower() in others and s.lower() not in kept]
    if taken:  # the sheet first: a user's sheet that takes our name often takes our names' targets too
        raise WorkbookError(sheet_taken(taken[0], owner))
    if scratch is not None:
        clash = name_clash(book, owner, scratch, mine, owns_name)
        if clash is not None:
            raise WorkbookError(clash)
    ours = owned_names(book, owner, mine, owns_name)
    try:
        book.replace_sheets(
            [m for m in mine if m.lower() not in kept],
            scratch,
            [s for s in sheets if s.lower() not in kept],
            at_start=at_start,
            drop_name=lambda name: name.lower() in ours,
        )
    except SheetNameTaken as e:
        raise WorkbookError(sheet_taken(e.name, owner)) from None
    book.set_owned_sheets(owner, [*sheets])
    if first_record:  # the other sheets, for the other programs' legacy rules (ownership.UNRECORDED)
        mine_now = {s.lower() for s in sheets}
        older = [s for s in book.sheet_names() if s.lower() not in mine_now]
        book.mark_sheets(ownership.UNRECORDED, older, ownership.UNRECORDED_TOKEN)


def sheet_taken(name: str, owner: str) -> str:
    return f"has a sheet {name!r} that {owner} did not write; rename that sheet, or write to another file"
