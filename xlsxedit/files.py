"""A user's files: written so that none is ever lost or half-written (the one atomic writer of the project),
and read within limits when small (`read_small`).

- `write_atomic` fills a temporary file in the target's own folder (an unpredictable `tempfile` name, so a
  link planted beside the target cannot be written through), flushes it to disk and renames it over the
  target; on any failure or signal (Ctrl-C, SIGTERM, SIGHUP) the temporary file is removed and the target is
  as it was.
- `real_target` follows a symbolic link, so writing a linked file updates the file it points to and keeps
  the link.
- `exclusive_lock` makes writers of one file take turns (an advisory lock beside it): two at once both land.
- Temporary names share a recognisable shape (`.NAME.*.tmp`): what a `kill -9` leaves behind is removed by
  the next writer of that file, which holds the lock and so knows no one else is using it.

The trainer's checkpoints and logs and both programs' workbooks go through here; so do the small files a user
hands us to read (excelgen's TOML config, a run's log.json and results.json).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

LOCK_WAIT_S = 120.0  # a 10,000-iteration workbook takes ~20 s to write; a queue of a few must fit
_LOCK_POLL_S = 0.05
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Busy(OSError):
    """Another process held the file's lock for longer than we wait."""


def reason(e: OSError) -> str:
    """What went wrong with a file, in words a user reads in a one-line error."""
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    return e.strerror or str(e)


def real_target(path: Path) -> Path:
    """The file that writing `path` should change: `path` itself, or where its symbolic link(s) lead."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def temp_prefix(target: Path) -> str:
    """Every temporary name made for `target` starts with this (and ends in .tmp), in target's folder."""
    return f".{target.name}."


def remove_leftovers(target: Path) -> list[Path]:
    """Remove temporary files and folders that an interrupted writer of `target` left (kill -9, power loss).

    Call it only while holding `exclusive_lock(target)`: then no live writer owns any of them.
    """
    removed = []
    prefix = temp_prefix(target)
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass  # not ours to fight over; it is ignored like any other stray file
    return removed


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does, so that `finally` clauses
    clean up instead of the process vanishing mid-write. Only the main thread can install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for sig in _SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; a file system that cannot fsync a folder is no reason to fail."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _new_file_mode(target: Path) -> int:
    # mkstemp makes 0600 files; the result should look like any file the user writes (or keep the old mode).
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def commit(tmp: Path, target: Path, backups: Path | Sequence[Path] = ()) -> None:
    """Make the finished file `tmp` (in target's folder) the target: fsync it, give it the target's mode,
    keep the previous target as the first of `backups` when asked (rotate_backups), then rename."""
    _fsync_file(tmp)
    os.chmod(tmp, _new_file_mode(target))
    if backups and target.exists():
        rotate_backups(target, [backups] if isinstance(backups, Path) else list(backups))
    os.replace(tmp, target)
    fsync_folder(target.parent)


def rotate_backups(target: Path, backups: Sequence[Path]) -> None:
    """Keep the current target as backups[0], each older backup moving one place down (the last dropped).

    Every step is a rename, and the newest backup is a hard link (else a flushed copy) renamed into place:
    whenever this stops, each backup that exists is a whole earlier version (at worst one is missing).
    """
    for newer, older in reversed(list(zip(backups, backups[1:], strict=False))):
        if newer.exists():
            os.replace(newer, older)
    _keep_backup(target, backups[0])


def temp_file(target: Path) -> Path:
    """A new, empty file with an unpredictable temporary name beside `target` (see temp_prefix)."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


def _keep_backup(target: Path, backup: Path) -> None:
    staged = temp_file(target)
    try:
        staged.unlink()
        try:
            os.link(target, staged)  # no copy: the old bytes simply keep a second name
        except OSError:
            shutil.copy2(target, staged)
            _fsync_file(staged)
        os.replace(staged, backup)
    finally:
        staged.unlink(missing_ok=True)


class NotRegularFile(Exception):
    """A pipe, a device or a socket where a file was expected: reading it could block forever."""


class TooLarge(Exception):
    """The file is larger than the limit its reader allows."""


def read_small(path: Path, limit: int) -> bytes:
    """The bytes of a small file a user hands us, never more than `limit` of them and never from a pipe or a
    device. Raises NotRegularFile, TooLarge, or OSError (FileNotFoundError, IsADirectoryError, …); each
    caller says what went wrong in its own words."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        raise NotRegularFile(str(path))
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(str(path))
    return data


def write_atomic(
    path: Path, write: Callable[[Path], None], backup: Path | Sequence[Path] | None = None
) -> None:
    """`write(tmp)` fills a temporary file beside the (real) target; then it replaces the target atomically.

    On any exception, Ctrl-C or SIGTERM/SIGHUP the temporary file is removed and the target is unchanged.
    `backup`, when given, receives the previous version of the target (a Path, or a list to rotate).
    """
    target = real_target(Path(path))
    with signals_interrupt():
        tmp = temp_file(target)
        try:
            write(tmp)
            commit(tmp, target, backup or ())
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def private_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` (same file system, so a file made in it can be renamed over the target),
    removed with everything in it when the block ends, however it ends."""
    folder = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def exclusive_lock(target: Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on `target` (through a lock file beside it) for the block's duration.

    Writers that use it take turns; a writer that waits longer than `wait_s` gets `Busy`. The lock file is
    removed on release; a waiter that locked a file already removed retries on the new one.
    """
    path = lock_path(target)
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd, deadline, path)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed it after we opened it: lock the current one instead
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # closing releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _lock(fd: int, deadline: float, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    while True:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
                raise
        if time.monotonic() > deadline:
            raise Busy(errno.EBUSY, f"another program held {path.name} too long")
        time.sleep(_LOCK_POLL_S)
