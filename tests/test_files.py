"""files: atomic writes that keep the old file on failure, the umask, one-line OS errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from digitrec import files
from digitrec.errors import DigitrecError


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("good model")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half a mod")
            raise RuntimeError("disk full, say")
    assert target.read_text() == "good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]  # no temporary left behind


def test_atomic_write_replaces_and_follows_the_umask(tmp_path):
    old = os.umask(0o027)  # the mask set here, not read back through the helper under test
    try:
        target = files.write_json(tmp_path / "sub" / "m.json", {"a": np.float32(0.5), "b": np.arange(2)})
    finally:
        os.umask(old)
    assert json.loads(target.read_text()) == {"a": 0.5, "b": [0, 1]}
    assert target.stat().st_mode & 0o777 == 0o640


def test_unwritable_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DigitrecError, match="cannot write"):
        files.write_text(blocker / "inside.txt", "hello")


def test_os_errors_are_one_line_with_the_file_and_the_reason():
    import errno

    hdf5 = OSError(
        errno.EFBIG,
        "Can't synchronously write data (file write failed: time = now\n, filename = "
        "'/r/checkpoints/latest.weights.h5', file descriptor = 5, errno = 27, error message = 'File too large')",
    )
    assert files.os_error_parts(hdf5) == ("/r/checkpoints/latest.weights.h5", "File too large")
    full = OSError(errno.ENOSPC, "No space left on device", "/r/model.h5")
    assert files.os_error_parts(full) == ("/r/model.h5", "No space left on device (the disk is full)")
    assert files.os_error_parts(OSError("unable to open\nline two")) == (None, "unable to open")
