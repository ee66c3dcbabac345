"""How the trainer uses the machine: the number of CPU threads, the memory allocator, the precision.
No torch import at module level (the CLI's other commands must not pay for it).

Measured on the 2-core build machine (bench/NOTES.md, "Threads", "Allocator", "Precision"):
- Two threads are 1.5x faster than one on an idle machine, but when another job holds a core, OpenMP's two
  threads wait for each other through the scheduler: 45 to 230 ms a step against 26 ms with one thread.
  OMP_WAIT_POLICY=PASSIVE (sleep instead of spinning) does not fix it and costs 2.4x on an idle machine
  (41 against 17 ms a step), so OpenMP keeps its defaults and the thread count follows the load instead:
  `free_cores` at the start and again before every epoch.
- glibc hands freed blocks above its (adaptive) mmap threshold back to the kernel; from one run to the next,
  0 to 5,400 page faults a step followed (0.3 to 11 ms of kernel time in a 30 to 50 ms step).
  `tune_allocator` keeps freed memory for reuse: no faults, and steps that time the same in every run.
- Where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), bfloat16 autocast makes a step ~30%
  faster at the same accuracy: `precision`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import statistics
import time
from pathlib import Path

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to 32 MiB come from the heap and are reused
_TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap instead of handing it back after every step
_TOP_PAD = 64 << 20

_cores: int | None = None  # torch's default thread count (the physical cores), read before we change it


def running_others(samples: int = 5, interval: float = 0.02) -> float:
    """Processes (threads) of other programs running right now: /proc/loadavg's running count without
    this thread, the median of a few samples. 0 where there is no /proc."""
    counts = []
    for i in range(samples):
        try:
            counts.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return 0.0
        if i + 1 < samples:
            time.sleep(interval)
    return float(max(0, statistics.median(counts)))


def choose_threads(cores: int, load: float) -> int:
    """The thread count for `cores` physical cores when `load` of them are taken by others: the free ones,
    at least one. Rounded, so that a core busy less than half the time still counts as free."""
    return max(1, min(cores, round(cores - load + 1e-9)))


def cores() -> int:
    import torch

    global _cores
    if _cores is None:
        _cores = torch.get_num_threads()
    return _cores


def free_cores() -> int:
    """The thread count for what comes next: the cores that other programs' running processes leave free.
    Counted at this moment, not by the load average: that lags a minute behind (a job that ended 30 s ago
    still counts) and, during a run, includes the run's own threads; between epochs ours are idle."""
    return choose_threads(cores(), running_others())


def tune_allocator() -> bool:
    """Keeps glibc's freed memory for reuse (see the module's docstring); False where there is no glibc."""
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        mallopt = ctypes.CDLL(path).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    return all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
            (_M_TOP_PAD, _TOP_PAD),
        )
    )


def configure(threads: int | None) -> int:
    """Sets torch's thread count (None: `free_cores`) and the allocator; returns the thread count."""
    import torch

    n = threads if threads is not None else free_cores()
    torch.set_num_threads(n)
    tune_allocator()
    return n


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def precision(device: str) -> str:
    """ "bfloat16" where `device` multiplies bfloat16 natively (x86 CPUs with AVX512-BF16 or AMX, CUDA GPUs
    that support it), else "float32": emulated bfloat16 is slower than float32."""
    import torch

    if device == "cpu":
        native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"}) and torch.backends.mkldnn.is_available()
    elif device == "cuda":
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    else:
        native = False
    return "bfloat16" if native else "float32"
