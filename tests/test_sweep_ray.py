"""`trainer sweep --ray` on a Ray cluster of 2 CPUs that the test starts itself, on tiny synthetic data: the
same grid gives the same runs as the local pool, bit for bit (one thread per run on both), with the run
folders written by the driver from what the tasks sent back; a Ray version mismatch is one line, exit 2,
nothing started.

All its traffic stays on loopback: by default Ray binds to the machine's primary interface, so the cluster and
the driver run inside namespaces of their own (`unshare --net --pid`), where the only interface is `lo`
(Ray then takes 127.0.0.1) and every process the test started ends with the namespace. That needs root and
unshare; elsewhere the test is skipped with the reason, and under CI=true it fails instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from spreadsheet import unavailable
from test_sweep import COMMON, HERE, epochs_without_time, same_weights

from trainer import grid

pytestmark = pytest.mark.slow
PORT = 6399
LIMIT_S = 540  # the whole namespace: cluster start, the sweep, the mismatch check

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import ray.cloudpickle
import sweep_data
from trainer import cli, sweep
if __name__ == "__main__":
    ray.cloudpickle.register_pickle_by_value(sweep_data)  # the tasks get the synthetic data's code
    sweep.LOAD = sweep_data.load
    if sys.argv[1] == "mismatch":  # this process claims another Ray version than the cluster's
        import ray._private.utils as utils
        real = utils.compute_version_info
        utils.compute_version_info = lambda: ("0.0.1", real()[1])
    sys.exit(cli.main(sys.argv[2:]))
"""

SCRIPT = """
set -u
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0
cd {work}
# Ray gives its raylet 30 s to register, which a busy machine can miss: up to three tries.
started=no
for try in 1 2 3; do
    if timeout 180 {ray} start --head --num-cpus 2 --port {port} --temp-dir {temp} --include-dashboard=false \
        --disable-usage-stats >> ray-start.log 2>&1; then started=yes; break; fi
    timeout 60 {ray} stop --force > /dev/null 2>&1  # only this namespace's Ray processes
done
[ $started = yes ] || {{ echo "ray start failed 3 times"; exit 90; }}
ip -brief addr > interfaces.txt
timeout 300 {python} driver.py same {sweep} > sweep.log 2>&1; echo $? > sweep.rc
timeout 120 {python} driver.py mismatch {mismatch} > mismatch.log 2>&1; echo $? > mismatch.rc
timeout 60 {ray} stop --force > /dev/null 2>&1
exit 0
"""


def ray_unavailable() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed: pip install -e '.[sweep]'"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root, to start the test's Ray cluster in a network namespace of its own"
    for tool in ("unshare", "ip", "timeout"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (util-linux, iproute2, coreutils)"
    probe = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return f"cannot make a network namespace here ({probe.stderr.strip()[:200]})"
    return None


@pytest.fixture(scope="module")
def ray_ready() -> None:
    reason = ray_unavailable()
    if reason:
        unavailable(reason, "Ray")


def test_ray_gives_the_same_runs_as_the_local_pool(ray_ready: None, tmp_path: Path) -> None:
    grid_args = [*COMMON, "--epochs", "2", "--set", "lr=0.2", "--seeds", "1-2", "--no-workbook"]
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    (tmp_path / "driver.py").write_text(DRIVER.format(tests=str(HERE)))
    local = subprocess.run(  # two single-threaded workers, as the Ray cluster's two 1-CPU tasks
        [
            sys.executable,
            str(tmp_path / "driver.py"),
            "same",
            "sweep",
            *grid_args,
            "--out",
            str(local_out),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stdout + local.stderr

    address = f"127.0.0.1:{PORT}"
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    try:
        script = SCRIPT.format(
            work=tmp_path,
            ray=f"{sys.executable} -m ray.scripts.scripts",  # Ray's CLI with this Python (its workers too)
            python=sys.executable,
            port=PORT,
            temp=temp,
            sweep=" ".join(["sweep", *grid_args, "--out", str(ray_out), "--ray", address]),
            mismatch=" ".join(["sweep", *grid_args, "--out", str(tmp_path / "never"), "--ray", address]),
        )
        ns = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("*.log")}
    for name, text in logs.items():  # for the reader of a failure, and for the README
        print(f"--- {name}\n{text}")
    assert ns.returncode == 0, (ns.stdout, ns.stderr, logs)
    assert "127.0.0.1" in (tmp_path / "interfaces.txt").read_text()
    assert (tmp_path / "sweep.rc").read_text().strip() == "0", logs

    # The same runs: every run folder the driver wrote from the tasks' data equals the local pool's.
    for seed in (1, 2):
        name = f"tiny_lr=0.2_seed={seed}"
        assert grid.finished(ray_out / name)
        assert same_weights(ray_out / name, local_out / name)
        assert epochs_without_time(ray_out / name) == epochs_without_time(local_out / name)
        assert (ray_out / name / "results.json").read_bytes() == (
            local_out / name / "results.json"
        ).read_bytes()
    table = json.loads((ray_out / "sweep.json").read_text())["table"]
    assert json.loads((local_out / "sweep.json").read_text())["table"][0]["per_seed"] == table[0]["per_seed"]
    assert "Ray: 1 node(s), 2 run(s) at a time of 1 CPU(s) each" in logs["sweep.log"]

    # A driver of another Ray version: one line, exit 2, nothing written.
    assert (tmp_path / "mismatch.rc").read_text().strip() == "2", logs
    # Ray's C++ core warns, on import, that it found no route outside: true only in the namespace.
    lines = logs["mismatch.log"].splitlines()
    errors = [line for line in lines if line.strip() and "network_util.cc" not in line]
    assert len(errors) == 1 and "the cluster runs Ray" in errors[0] and "this machine Ray 0.0.1" in errors[0]
    assert not (tmp_path / "never").exists()
