"""Running a sweep's runs: one run in steps of one epoch (`steps`, the same code in a local worker process and
in a Ray task), the local pool of worker processes, and the loop that hands runs to a backend, retries the
ones whose worker died and collects what happened to each.

A run is trained by train.fit, one epoch per call: the first call creates the run folder (epoch 0 saved, then
renamed into place, so a folder under --out always resumes), each next call resumes it from its checkpoint and
stops after one more epoch. Resuming is exact on a CPU (train.py), so the steps end with the weights an
uninterrupted `trainer train` run has, and a worker killed mid-run costs only the epoch it was in: the run is
handed out again and resumes from the last saved one.

No torch at import time: the driver needs none (the workers import it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from xlsxedit.files import signals_interrupt

from . import config, grid, runtime
from .errors import UserError, one_line

OUTPUT = "output.txt"  # what train.fit printed (summary, tqdm bars, test lines), in the run folder
MAX_RETRIES = 3  # a run whose worker dies this many times more is reported failed
STOP_GRACE_S = 120.0  # Ctrl-C: how long workers get to stop (they finish nothing; they only let go)

# How workers get the data: train.load_mnist, unless a test puts its synthetic data here (by reference, so
# that the worker processes find it too).
LOAD: Callable | None = None


@dataclass(frozen=True)
class Job:
    """What a worker needs to train one run: plain data, so that it travels to a process or a Ray node."""

    run: grid.Run
    device: str
    data_dir: Path
    threads: int | None  # None: the free cores, decided before every epoch (runtime.free_cores)
    load: Callable | None = None


_data: dict[tuple, Any] = {}  # one data set per worker process, reused by the runs it trains


def _tensors(job: Job, device: Any) -> Any:
    from . import train

    load = job.load or train.load_mnist
    key = (str(job.data_dir), str(device), job.run.hp.limit_train, load)
    if key not in _data:
        _data.clear()
        _data[key] = load(job.data_dir, device, job.run.hp.limit_train, log=print)
    return _data[key]


@contextlib.contextmanager
def _printing_to(path: Path) -> Iterator[None]:
    with open(path, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield


def steps(job: Job, run_dir: Path) -> Iterator[int]:
    """Trains job's run in `run_dir` (created when absent, resumed when not), one epoch per step; yields the
    number of epochs saved after each. The last step also saves the final model and results.json. What the
    training prints goes to the run folder's output.txt."""
    from . import train

    device = train.pick_device(job.device)
    if not run_dir.exists():
        staging = run_dir.with_name(f".{run_dir.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with _printing_to(staging / OUTPUT):
            runtime.configure(job.threads)
            data = _tensors(job, device)
            made = train.fit(
                data, job.run.hp, model_name=job.run.model, seed=job.run.seed, out=staging, stop_after=0
            )
        os.replace(staging / OUTPUT, made / OUTPUT)
        os.rename(made, run_dir)  # the folder appears complete: epoch 0 saved
        shutil.rmtree(staging, ignore_errors=True)
        yield 0
    while not grid.finished(run_dir):
        with _printing_to(run_dir / OUTPUT):
            saved = train.load_checkpoint(run_dir)
            # The run's own settings (its precision as resolved when it started), as `trainer train --resume`.
            hp = dataclasses.replace(config.from_log(saved["log"]["hyperparameters"]), threads=job.threads)
            runtime.configure(job.threads)  # None: the free cores, before every epoch as `trainer train` does
            data = _tensors(job, device)
            train.fit(data, hp, resume=run_dir, saved=saved, stop_after=saved["epoch"] + 1)
        yield saved["epoch"] + 1


def events(job: Job, run_dir: Path, after_step: Callable[[int], Any]) -> Iterator[tuple[str, Any]]:
    """`steps` as events: ("epoch", n) after each (with `after_step(n)`'s value beside it), then one of
    ("done", None), ("failed", one-line reason), ("stopped", None) for Ctrl-C."""
    from . import train

    try:
        for done in steps(job, run_dir):
            yield "epoch", (done, after_step(done))
        yield "done", None
    except (train.Interrupted, KeyboardInterrupt):
        yield "stopped", None
    except UserError as e:
        yield "failed", one_line(e)
    except Exception as e:  # a bug: the traceback goes to the run's output, the sweep goes on
        if run_dir.is_dir():
            with open(run_dir / OUTPUT, "a", encoding="utf-8") as f:
                traceback.print_exc(file=f)
        yield "failed", f"{type(e).__name__}: {one_line(e, 200)} (traceback in {run_dir / OUTPUT})"


def _local_worker(job: Job, run_dir: Path, conn: Any) -> None:
    # Ctrl-C and the driver's stop both reach a worker as SIGINT. A sweep started in the background by a shell
    # without job control (`nohup trainer sweep ... &`, a batch job) inherits SIGINT ignored, and so did its
    # workers: told to stop by a SIGTERM to the driver, a worker trained on to the end of its run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(BrokenPipeError, EOFError), conn:
        for event in events(job, run_dir, lambda n: None):
            conn.send(event)


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """A spawned worker (and the forkserver) imports the parent's main script again, by its path, to find
    what it may need; the `trainer` console script has no `if __name__ == "__main__"` guard and would start
    the whole command again. Workers need nothing from it (their function is in this module), so while one
    starts the main module does not say where it came from."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class LocalPool:
    """Worker processes on this machine, one per run being trained, at most `workers` at a time. A process
    per run (not a long-lived pool) so that a killed one costs its run's epoch and nothing else."""

    def __init__(self, workers: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        # forkserver: each worker starts from a clean process without the driver's threads; spawn elsewhere.
        self.ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self.ctx.get_start_method() == "forkserver":  # torch imported once, not once per run (seconds)
            self.ctx.set_forkserver_preload(["trainer.train"])
        self.workers = workers
        self.running: dict[str, tuple[Any, Any]] = {}  # run name -> (process, connection)
        self.ended: set[str] = set()  # runs whose worker sent its last event

    def describe(self) -> str:
        return f"{self.workers} local worker process(es)"

    def has_room(self) -> bool:
        return len(self.running) < self.workers

    def busy(self) -> bool:
        return bool(self.running)

    def start(self, job: Job, run_dir: Path) -> None:
        receive, send = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(target=_local_worker, args=(job, run_dir, send), daemon=True)
        with _main_not_rerun():
            process.start()
        send.close()
        self.running[job.run.name] = (process, receive)
        self.ended.discard(job.run.name)

    def events(self, timeout: float) -> list[tuple[str, str, Any]]:
        """(run name, kind, payload) of what arrived within `timeout`; ("lost", reason) for a worker that died
        without its last event."""
        by_conn = {conn: name for name, (_, conn) in self.running.items()}
        out = []
        for conn in wait(list(by_conn), timeout):
            name = by_conn[conn]
            try:
                kind, payload = conn.recv()
                out.append((name, kind, payload))
                if kind != "epoch":
                    self.ended.add(name)
            except (EOFError, OSError):
                process, _ = self.running.pop(name)
                process.join(10)
                conn.close()
                code = process.exitcode
                if name in self.ended:
                    continue
                if code is not None and code < 0:  # killed (kill -9, the OOM killer): resumable
                    out.append((name, "lost", f"its worker process was {_signal_name(code)}"))
                else:  # it could not even start the run: trying again would end the same way
                    out.append((name, "failed", f"its worker process ended with {_signal_name(code)}"))
        return out

    def interrupt(self) -> None:
        """Ctrl-C: each worker saves nothing new and stops (a terminal's Ctrl-C reaches them already; a
        SIGINT sent to the driver alone is passed on)."""
        time.sleep(0.5)
        for process, _ in self.running.values():
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)

    def close(self, grace: float = STOP_GRACE_S) -> None:
        deadline = time.monotonic() + grace
        for process, conn in self.running.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
            conn.close()
        self.running.clear()


@dataclass
class Outcome:
    status: str  # "finished" (now or before), "failed", "stopped" (Ctrl-C), "pending" (not reached)
    reason: str | None = None


def write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Files a remote worker sent, into the run folder here: a new folder appears whole (staged, then
    renamed), an existing one gets each file replaced atomically, the checkpoint before the log as train.py
    saves them."""
    from xlsxedit.files import write_atomic

    def put(path: Path, data: bytes) -> None:
        write_atomic(path, lambda p: p.write_bytes(data))

    if not run_dir.exists():
        staging = run_dir.with_name(f".{run_dir.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, data in files.items():
            (staging / name).write_bytes(data)
        os.rename(staging, run_dir)
        return
    for name in sorted(files, key=lambda n: (n != "checkpoint.pt", n != "log.json", n)):
        put(run_dir / name, files[name])


def execute(
    jobs: list[Job],
    backend: Any,
    out: Path,
    say: Callable[[str], None] = print,
) -> tuple[dict[str, Outcome], bool]:
    """Hands the jobs to `backend` as it has room, retries a run whose worker died (it resumes from its last
    saved epoch), and reports each event in one line. Returns each run's outcome and whether Ctrl-C stopped
    the sweep (the finished epochs are saved; the same command continues)."""
    queue = deque(jobs)
    by_name = {job.run.name: job for job in jobs}
    outcomes = {job.run.name: Outcome("pending") for job in jobs}
    retries: dict[str, int] = {}
    total = len(jobs)
    done = 0
    stopping = False
    try:
        with signals_interrupt():  # SIGTERM and SIGHUP stop the sweep as Ctrl-C does, workers included
            while queue or backend.busy():
                while queue and backend.has_room():
                    job = queue.popleft()
                    backend.start(job, out / job.run.name)
                for name, kind, payload in backend.events(timeout=1.0):
                    job = by_name[name]
                    if kind == "epoch":
                        epoch, files = payload
                        if files:
                            write_files(out / name, files)
                        if epoch:
                            say(f"  {name}: epoch {epoch}/{job.run.hp.epochs} saved")
                    elif kind == "done":
                        done += 1
                        outcomes[name] = Outcome("finished")
                        say(f"[{done}/{total}] {name}: finished")
                    elif kind == "failed":
                        done += 1
                        outcomes[name] = Outcome("failed", payload)
                        say(f"[{done}/{total}] {name}: failed: {payload}")
                    elif kind == "stopped":
                        outcomes[name] = Outcome("stopped")
                    elif kind == "lost":
                        retries[name] = retries.get(name, 0) + 1
                        if retries[name] > MAX_RETRIES:
                            done += 1
                            outcomes[name] = Outcome("failed", f"{payload}, {MAX_RETRIES + 1} times")
                            say(f"[{done}/{total}] {name}: failed: {payload}, {MAX_RETRIES + 1} times")
                        else:
                            say(f"  {name}: {payload}; resuming it from its last saved epoch")
                            queue.appendleft(job)
    except KeyboardInterrupt:
        say("Interrupted: stopping the workers; finished epochs are kept")
        with contextlib.suppress(KeyboardInterrupt):
            backend.interrupt()
        stopping = True
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if stopping:
                _drain(backend, out, by_name, outcomes)
            backend.close()
    return outcomes, stopping


def _drain(backend: Any, out: Path, by_name: dict[str, Job], outcomes: dict[str, Outcome]) -> None:
    """After Ctrl-C: the epochs workers still send are saved, until they stop."""
    deadline = time.monotonic() + STOP_GRACE_S
    while backend.busy() and time.monotonic() < deadline:
        for name, kind, payload in backend.events(timeout=1.0):
            if kind == "epoch" and payload[1]:
                write_files(out / name, payload[1])
            elif kind in ("done", "failed"):
                outcomes[name] = Outcome("finished" if kind == "done" else "failed", payload)
            else:
                outcomes[name] = Outcome("stopped")


def default_workers(threads: int | None, free: int) -> tuple[int, int | None]:
    """(workers, threads per run) for the local pool: one single-threaded worker per free core, which trains
    more runs per minute than fewer workers with more threads each (README, "trainer sweep": measured)."""
    if threads is None:
        return max(1, free), 1
    return max(1, free // threads), threads
