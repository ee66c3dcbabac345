"""`python bench/allocator_faults.py`: page faults per training step with glibc's allocator as it comes and
tuned by trainer/runtime.py's `tune_allocator`, measured, not asserted (how many faults an untuned run takes
depends on the machine, the kernel and what else runs: 1,998 to 11,337 over 15 steps were seen on the build
machine, the tuned run 0 to 1,355).

Each measurement is a fresh interpreter (the allocator's state is per process): a conv + BatchNorm + ReLU step
on 64 images, 25 steps, the minor faults of the last 15 counted once the heap has grown to its working size.
Plain and tuned alternate, back to back, REPEATS times; the medians and their ratio are printed with the load
average, since other jobs change the plain figure. tests/test_runtime.py checks the mechanism itself (the
block kept in the heap and reused) without counting faults.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

REPEATS = 5

STEPS = """
import resource, sys, torch
from trainer import runtime
torch.set_num_threads(1)
if sys.argv[1] == "tuned":
    assert runtime.tune_allocator()
model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.ReLU())
x = torch.randn(64, 1, 28, 28)
faults = []
for step in range(25):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(x).sum().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[10:]))
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=300, check=True
    )
    return int(done.stdout.split()[-1])


def main() -> int:
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    runs: dict[str, list[int]] = {"plain": [], "tuned": []}
    for _ in range(REPEATS):
        for mode in runs:
            runs[mode].append(faults(mode))
    for mode, counts in runs.items():
        print(f"{mode}: minor faults over 15 steps {counts}, median {statistics.median(counts):,.0f}")
    plain, tuned = (statistics.median(runs[m]) for m in ("plain", "tuned"))
    ratio = f"tuned / plain (medians): {tuned / plain:.3f}" if plain else "plain took no faults here"
    print(ratio)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
