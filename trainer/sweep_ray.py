"""The sweep's runs as Ray tasks on a running cluster (`trainer sweep --ray auto|ADDRESS`).

Each run is one task that asks for its CPUs (its thread count) and a GPU with `--device cuda`. The task trains
in a temporary folder on whichever node runs it, with the same steps as a local worker (sweep.steps), and
yields the run folder's changed files after every epoch: results travel back to the driver as data, and the
driver writes the run folders here, so no disk is shared. A run resumed here, or after its node was lost,
travels to its task with the files of its last saved epoch. Each node prepares and verifies the data set
itself (data.prepare, as `trainer data`), once: later tasks find it verified.

Ray is imported only here, only for `--ray` (the `sweep` extra).
"""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import sweep
from .errors import UserError, one_line

INSTALL = "pip install -e '.[sweep]' (or pip install ray)"
PROBE_TIMEOUT_S = 5.0
STOP_GRACE_S = 60.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed here; install it with {INSTALL}") from None
    return ray


def _probe(address: str) -> None:
    """An explicit HOST:PORT that nothing answers is refused in seconds (Ray itself retries for a minute)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(
            f"--ray {address}: write the cluster's address as HOST:PORT (e.g. 10.0.0.5:6379) or auto"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise UserError(
            f"--ray {address}: nothing answers there ({e.strerror or one_line(e, 80)}); start the cluster "
            "with `ray start --head` on that machine, or check the address"
        ) from None


def mismatch_message(address: str, error: Exception) -> str:
    """Ray's many-line version mismatch as one line that says what to install."""
    text = str(error)
    versions = re.findall(r"Ray: (\S+)\s+Python: (\S+)", text)
    if len(versions) == 2:
        (ray_there, py_there), (ray_here, py_here) = versions
        return (
            f"--ray {address}: the cluster runs Ray {ray_there} on Python {py_there}, this machine Ray "
            f"{ray_here} on Python {py_here}; every machine needs the same versions (pip install "
            f"ray=={ray_there} here, or restart the cluster with this Ray)"
        )
    return f"--ray {address}: {one_line(text, 240)}; every machine needs the same Ray and Python versions"


def connect(address: str) -> Any:
    """ray.init on the running cluster at `address` ("auto": the one started on this machine); refused in
    one line when there is none, or when its Ray or Python version differs from this one's."""
    if address != "auto":
        _probe(address)
    ray = _import_ray()
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", include_dashboard=False)
    except RuntimeError as e:
        if "version mismatch" in str(e).lower():
            raise UserError(mismatch_message(address, e)) from None
        raise UserError(f"--ray {address}: cannot join the cluster ({one_line(e, 200)})") from None
    except (ConnectionError, TimeoutError, ValueError) as e:
        raise UserError(
            f"--ray {address}: no Ray cluster there ({one_line(e, 160)}); start one with `ray start --head`"
        ) from None
    return ray


def _changed(folder: Path, seen: dict[str, tuple[int, int]]) -> dict[str, bytes]:
    """The files of `folder` that are new or changed since `seen` (updated): what the driver lacks."""
    out = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.endswith(".tmp"):
            continue
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        if seen.get(path.name) != key:
            seen[path.name] = key
            out[path.name] = path.read_bytes()
    return out


def task(job: sweep.Job, files: dict[str, bytes]) -> Any:
    """One run on a Ray worker: the saved files (if any) into a temporary run folder, then sweep.events,
    each epoch's event carrying the files it changed."""
    with tempfile.TemporaryDirectory(prefix="trainer-sweep-") as tmp:
        run_dir = Path(tmp) / job.run.name
        seen: dict[str, tuple[int, int]] = {}
        if files:
            run_dir.mkdir()
            for name, data in files.items():
                (run_dir / name).write_bytes(data)
            _changed(run_dir, seen)
        yield from sweep.events(job, run_dir, lambda n: _changed(run_dir, seen))


def _saved_files(run_dir: Path) -> dict[str, bytes]:
    if not run_dir.is_dir():
        return {}
    return {
        p.name: p.read_bytes()
        for p in sorted(run_dir.iterdir())
        if p.is_file() and not p.name.endswith(".tmp")
    }


class RayPool:
    """The backend for sweep.execute: tasks in flight, each read by a thread of the driver that passes its
    events on; as many in flight as the cluster has room for (its CPUs over each run's threads)."""

    def __init__(self, ray: Any, threads: int, device: str) -> None:
        self.ray = ray
        self.threads = threads
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = int(ray.cluster_resources().get("GPU", 0))
        self.slots = max(1, cpus // threads if device != "cuda" else min(gpus, cpus // threads))
        self.remote = ray.remote(task).options(
            num_cpus=threads, num_gpus=1 if device == "cuda" else 0, max_retries=0
        )
        self.events_in: queue.Queue = queue.Queue()
        self.running: dict[str, Any] = {}  # run name -> the task's ObjectRefGenerator
        self.nodes = len([n for n in ray.nodes() if n.get("Alive")])

    def describe(self) -> str:
        return f"Ray: {self.nodes} node(s), {self.slots} run(s) at a time of {self.threads} CPU(s) each"

    def has_room(self) -> bool:
        return len(self.running) < self.slots

    def busy(self) -> bool:
        return bool(self.running)

    def start(self, job: sweep.Job, run_dir: Path) -> None:
        generator = self.remote.remote(job, _saved_files(run_dir))
        self.running[job.run.name] = generator
        threading.Thread(target=self._read, args=(job.run.name, generator), daemon=True).start()

    def _read(self, name: str, generator: Any) -> None:
        ray = self.ray
        try:
            ended = False
            for ref in generator:
                kind, payload = ray.get(ref)
                self.events_in.put((name, kind, payload))
                ended = kind != "epoch"
            if not ended:
                self.events_in.put((name, "lost", "its task ended without a result"))
        except ray.exceptions.TaskCancelledError:
            self.events_in.put((name, "stopped", None))
        except ray.exceptions.RayTaskError as e:  # raised by our code outside its own handlers: a bug
            self.events_in.put((name, "failed", one_line(e, 300)))
        except ray.exceptions.RayError as e:  # the worker or its node died, an object was lost
            self.events_in.put((name, "lost", f"its Ray worker was lost ({type(e).__name__})"))
        finally:
            self.events_in.put((name, "_end", generator))

    def events(self, timeout: float) -> list[tuple[str, str, Any]]:
        out = []
        try:
            item = self.events_in.get(timeout=timeout)
            while True:
                name, kind, payload = item
                if kind == "_end":  # this task's reader is done (a retry of the run may be running already)
                    if self.running.get(name) is payload:
                        del self.running[name]
                else:
                    out.append(item)
                item = self.events_in.get_nowait()
        except queue.Empty:
            pass
        return out

    def interrupt(self) -> None:
        for generator in list(self.running.values()):
            with contextlib.suppress(Exception):
                self.ray.cancel(generator)

    def close(self, grace: float = STOP_GRACE_S) -> None:
        with contextlib.suppress(Exception):
            self.ray.shutdown()
