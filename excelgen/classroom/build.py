"""Writing a class folder: DIR/students/<id>.xlsx (blank), DIR/keys/<id>.xlsx (the full live workbook of that
variant, excelgen's own), DIR/class.json.

DIR is never half-written: the whole set is built in a private folder beside it (same file system), then
renamed into place; an existing class folder is swapped out the same way, and the files it holds besides the
set (a gradebook, grades.json, submissions) are copied into the new one first. A folder made with another seed
is refused: its students' numbers would change under them. The build holds the project's lock on DIR, so two
runs take turns. Every file's bytes depend only on the roster, the seed and the settings.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from xlsxedit import files

from ..assemble import write_workbook
from ..model import config as cfg
from . import classfile, variants
from .classfile import ClassError, ClassSet
from .roster import Student
from .student import CREATED, DEFAULT_BLANK, write_student

STUDENTS = "students"
KEYS = "keys"
OWNED = (STUDENTS, KEYS, classfile.NAME)  # what a rebuild replaces; anything else in DIR is kept
MAX_SEED = 100
MAX_WORKERS = 8
MIN_PER_WORKER = 4  # students a worker process writes at least: starting one costs ~0.1 s


def check_seed(seed: str) -> str:
    if not seed or len(seed) > MAX_SEED or not seed.isprintable():
        raise ClassError(f"--seed: give 1 to {MAX_SEED} printable characters, e.g. --seed 2026")
    return seed


def plan(
    students: Sequence[Student], seed: str, base: cfg.Config, blank: int = DEFAULT_BLANK, sweep: bool = False
) -> ClassSet:
    """The class set of a roster: every student's variant, drawn from (seed, id) alone; `sweep` gives the keys
    base's learning rates besides the student's η."""
    iterations = base.training.iterations
    if not 0 <= blank <= iterations + 1:
        raise ClassError(f"--blank: give 0 to {iterations + 1} (the table has iterations 0…{iterations})")
    drawn = {s.id: variants.draw(seed, s.id, iterations) for s in students}
    return ClassSet(check_seed(seed), blank, base, tuple(students), drawn, sweep)


def existing_seed(out: Path) -> str | None:
    """The seed of the class folder at `out`, None when there is none yet; ClassError when `out` is something
    else (a file, a folder of other things)."""
    if not out.exists() and not out.is_symlink():
        return None
    if not out.is_dir():
        raise ClassError(f"{out}: exists and is not a folder; give --out a new folder")
    if not (out / classfile.NAME).exists():
        if any(out.iterdir()):
            raise ClassError(f"{out}: a folder of other files, not a class folder; give --out a new folder")
        return None
    return classfile.read(out).seed


def resolve_seed(out: Path, seed: str | None) -> str:
    """The seed to build with: the one given, else the folder's own, else a new random one. A seed that
    differs from the folder's is refused."""
    before = existing_seed(out)
    if seed is not None and before is not None and seed != before:
        raise ClassError(
            f"{out}: made with seed {before!r}, not {seed!r}: its students' numbers would change; "
            f"give --seed {before} (or no --seed) to update it, or another --out for a new class"
        )
    return seed if seed is not None else before if before is not None else str(secrets.randbelow(10**6))


def write_class(cs: ClassSet, out: Path) -> None:
    """Write the class set at `out` (see the module's docstring)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise ClassError(f"{out}: folder {str(out.parent)!r} does not exist; create it first")
    try:
        with files.exclusive_lock(out), files.signals_interrupt():
            resolve_seed(out, cs.seed)  # again under the lock: another run may have made it meanwhile
            with files.private_folder(out) as tmp:
                new = tmp / "class"
                _build(cs, new, tmp)
                if out.is_dir():
                    _carry_over(out, new)
                _swap(new, out, tmp)
    except files.Busy:
        raise ClassError(f"{out}: another excelgen is writing it; try again") from None
    except OSError as e:
        raise ClassError(f"{out}: cannot write it ({files.reason(e)})") from None


def _build(cs: ClassSet, new: Path, tmp: Path) -> None:
    work = tmp / "work"  # xlsxwriter's working files
    for folder in (new / STUDENTS, new / KEYS, work):
        folder.mkdir(parents=True)
    jobs = [(cs.config(s.id), s, cs.blank, new, work) for s in cs.students]
    workers = min(_cores(), MAX_WORKERS, -(-len(jobs) // MIN_PER_WORKER))
    if workers > 1:  # a key is ~0.5 s of CPU: a class of 60 is worth the cores (the files do not change)
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_pair, jobs, chunksize=MIN_PER_WORKER))
    else:
        for job in jobs:
            _write_pair(job)
    (new / classfile.NAME).write_text(classfile.to_json(cs), encoding="utf-8")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _write_pair(job: tuple[cfg.Config, Student, int, Path, Path]) -> None:
    """One student's two files: their blank workbook and their key."""
    config, s, blank, new, work = job
    write_student(new / STUDENTS / f"{s.id}.xlsx", config, s.id, s.name, blank)
    write_workbook(config, new / KEYS / f"{s.id}.xlsx", tmpdir=work, created=CREATED.replace(tzinfo=None))


def _carry_over(old: Path, new: Path) -> None:
    """Copy what the old folder holds besides the set (a gradebook, grades.json, submissions) into the new."""
    for entry in old.iterdir():
        if entry.name in OWNED or entry.name.startswith(files.temp_prefix(old)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, new / entry.name, follow_symlinks=False)


def _swap(new: Path, out: Path, tmp: Path) -> None:
    """Put `new` at `out`: a rename, after moving an existing `out` aside (back in place if that fails)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(new, 0o777 & ~umask)  # the private folder was made 0700
    if out.is_dir():
        aside = tmp / "old"
        os.rename(out, aside)
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(aside, out)
            raise
    else:
        os.rename(new, out)
    files.fsync_folder(out.parent)
