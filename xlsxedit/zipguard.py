"""A workbook is untrusted input: the zip is read lazily and within `Limits`.

The zip's directory is checked first (`check_directory`: entry count, each part's declared size and
compression ratio, so a zip bomb is refused before anything is inflated); a part is inflated only when it is
parsed (`LazyParts`: never past its declared size, and zipfile's CRC check catches a part that lies about it);
parts that are not edited are streamed from the old file to the new (package.Package.save).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

from .errors import PackageError


@dataclass(frozen=True)
class Limits:
    """What a workbook handed to us may hold. Our own largest (10,000 iterations x 7 rates) has 40 parts, the
    largest 27 MiB inflated, compressed 5- to 8-fold."""

    entries: int = 100_000  # parts in the zip
    part_bytes: int = 2**30  # a part's declared inflated size
    total_bytes: int = 8 * 2**30  # all parts' declared inflated sizes together
    ratio: float = 100.0  # inflated / compressed, for parts larger than ratio_floor
    ratio_floor: int = 2**20
    parse_bytes: int = 256 * 2**20  # the largest part read into memory to be parsed or edited


LIMITS = Limits()
MIB = 2**20
# What zipfile raises for a part it cannot inflate: damaged data, an unknown method, encryption.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


class LazyParts(MutableMapping[str, bytes]):
    """name -> bytes of a package's parts, in zip order. A part of the source zip is inflated (within the
    limits) only when first read; `source_info` says which parts still hold their original bytes."""

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], limits: Limits) -> None:
        self._zip, self._infos, self._limits = zf, infos, limits
        self._order: dict[str, None] = dict.fromkeys(infos)  # an insertion-ordered set
        self._data: dict[str, bytes] = {}
        self._changed: set[str] = set()

    def __getitem__(self, name: str) -> bytes:
        if name in self._data:
            return self._data[name]
        if name not in self._order:
            raise KeyError(name)
        info = self._infos[name]
        if info.file_size > self._limits.parse_bytes:
            raise PackageError(
                f"part {name} is {info.file_size / MIB:,.0f} MiB inflated, more than the "
                f"{self._limits.parse_bytes / MIB:,.0f} MiB this tool edits"
            )
        try:
            data = self._zip.read(info)
        except DAMAGED as e:
            raise PackageError(f"part {name} is damaged ({e})") from None
        self._data[name] = data
        return data

    def __setitem__(self, name: str, data: bytes) -> None:
        self._data[name] = data
        self._changed.add(name)
        self._order.setdefault(name)

    def __delitem__(self, name: str) -> None:
        del self._order[name]
        self._data.pop(name, None)
        self._changed.discard(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def source_info(self, name: str) -> zipfile.ZipInfo | None:
        """The source zip's entry of a part whose bytes are still the original ones, else None."""
        return None if name in self._changed else self._infos.get(name)

    def loaded(self, name: str) -> bool:
        return name in self._data


def check_directory(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Refuse a zip whose directory already shows that it is not a workbook to inflate."""
    if len(infos) > limits.entries:
        raise PackageError(f"{len(infos):,} parts, more than the {limits.entries:,} a workbook may have")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise PackageError("two parts share one name")
    total = 0
    for info in infos:
        size = info.file_size
        if size > limits.part_bytes:
            raise PackageError(f"part {info.filename} would inflate to {size / MIB:,.0f} MiB")
        if size > limits.ratio_floor and size > limits.ratio * max(info.compress_size, 1):
            raise PackageError(
                f"part {info.filename} would inflate {size / max(info.compress_size, 1):,.0f}-fold "
                f"to {size / MIB:,.0f} MiB: a zip bomb, not a workbook"
            )
        total += size
    if total > limits.total_bytes:
        raise PackageError(f"its parts would inflate to {total / MIB:,.0f} MiB in all")
