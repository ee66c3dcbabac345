"""class.json: everything grading a class needs (the roster, the seed, each student's variant, the sheet's
settings), so that `excelgen grade --class DIR` reads nothing else.

    {"format": "excelgen class set", "version": 1, "seed": "2026", "blank": 2, "sweep": false,
     "training": {"learning_rates": [...], "iterations": 100, "train_biases": false},
     "students": [{"id": "s001", "name": "…", "email": "…",
                   "variant": {"i1": 0.08, …, "w8": 0.89, "eta": 0.62}}, …]}

Written with sorted keys and a fixed layout, so the same class gives the same bytes. Read back as untrusted
input (it sits in a folder anyone may edit): within MAX_BYTES, no NaN or Infinity, every id checked as the
roster checks it, every number finite; anything else is a ClassError naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlsxedit.files import NotRegularFile, TooLarge, read_small

from ..model import config as cfg
from ..sheets import layout
from . import variants
from .roster import MAX_STUDENTS, MAX_TEXT, Student, id_problem

NAME = "class.json"
FORMAT = "excelgen class set"
VERSION = 1
MAX_BYTES = 16 << 20  # a thousand students' variants are ~300 KB


class ClassError(ValueError):
    """A class folder or its class.json that cannot be used: one line saying what to do."""


@dataclass(frozen=True)
class ClassSet:
    seed: str
    blank: int
    base: (
        cfg.Config
    )  # the sheets' settings (iterations, learning rates); each student's numbers replace its network
    students: tuple[Student, ...]
    variants: dict[str, variants.Variant]  # by id
    sweep: bool = False  # the keys sweep base's learning rates too, not only the student's η

    def config(self, student_id: str) -> cfg.Config:
        """The config of one student's variant: their key is excelgen's workbook for it."""
        return self.variants[student_id].config(self.base, self.sweep, layout.MAX_LEARNING_RATES)

    def find(self, student_id: str) -> Student | None:
        """The roster's student with this id, whatever its case."""
        wanted = student_id.lower()
        return next((s for s in self.students if s.id.lower() == wanted), None)


def to_json(cs: ClassSet) -> str:
    t = cs.base.training
    data = {
        "format": FORMAT,
        "version": VERSION,
        "seed": cs.seed,
        "blank": cs.blank,
        "sweep": cs.sweep,
        "training": {
            "learning_rates": list(t.learning_rates),
            "iterations": t.iterations,
            "train_biases": t.train_biases,
        },
        "students": [
            {"id": s.id, "name": s.name, "email": s.email, "variant": cs.variants[s.id].to_json()}
            for s in cs.students
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read(folder: Path) -> ClassSet:
    """The class set of `folder` (its class.json); ClassError in one line when it cannot be used."""
    path = Path(folder) / NAME
    source = str(path)
    try:
        raw = read_small(path, MAX_BYTES)
    except FileNotFoundError:
        raise ClassError(
            f"{folder}: no {NAME}: not a class folder (make one with `excelgen class`)"
        ) from None
    except NotRegularFile:
        raise ClassError(f"{source}: not a regular file") from None
    except TooLarge:
        raise ClassError(f"{source}: larger than {MAX_BYTES >> 20} MiB: not excelgen's class.json") from None
    except OSError as e:
        raise ClassError(f"{source}: cannot read it ({e.strerror or e})") from None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ClassError(
            f"{source}: not valid JSON ({str(e)[:80]}); rebuild it with `excelgen class`"
        ) from None
    try:
        return _parse(data, source)
    except (KeyError, TypeError, ValueError, cfg.ConfigError) as e:
        raise ClassError(f"{source}: {str(e)[:160]}; rebuild it with `excelgen class`") from None


def _field(data: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise KeyError(f"no {key!r}")
    value = data[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise TypeError(f"{key!r} is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def _parse(data: Any, source: str) -> ClassSet:
    if _field(data, "format", str) != FORMAT or _field(data, "version", int) != VERSION:
        raise ValueError(f"not a {FORMAT} of version {VERSION}")
    seed = _field(data, "seed", str)
    training = _field(data, "training", dict)
    base = cfg.from_dict({"training": training}, source, layout.MAX_ITERATIONS, layout.MAX_LEARNING_RATES)
    blank = _field(data, "blank", int)
    if not 0 <= blank <= base.training.iterations + 1:
        raise ValueError(f"blank is {blank}, outside 0…{base.training.iterations + 1}")
    listed = _field(data, "students", list)
    if not listed or len(listed) > MAX_STUDENTS:
        raise ValueError(f"{len(listed)} students, not 1…{MAX_STUDENTS}")
    students, found, seen = [], {}, set()
    for k, entry in enumerate(listed):
        sid = _field(entry, "id", str)
        problem = id_problem(sid)
        if problem is not None or sid.lower() in seen:
            raise ValueError(f"student {k + 1}: {problem or f'the id {sid!r} twice'}")
        seen.add(sid.lower())
        name, email = _field(entry, "name", str)[:MAX_TEXT], _field(entry, "email", str)[:MAX_TEXT]
        students.append(Student(sid, name, email))
        try:
            found[sid] = variants.from_json(_field(entry, "variant", dict))
        except ValueError as e:
            raise ValueError(f"student {sid!r}: {e}") from None
    return ClassSet(seed, blank, base, tuple(students), found, _field(data, "sweep", bool))
