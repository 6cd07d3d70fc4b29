"""files: atomic writes that keep the old file on failure, the umask, one-line OS errors; pipes,
devices and stdout written through, never replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def test_a_pipe_is_written_through_and_a_link_to_a_file_kept(tmp_path):
    """`--csv /dev/stdout` and its kind: a pipe, a device or a terminal is written into, never
    replaced by a regular file (which, for root, would replace /dev/stdout itself); a link to a
    file keeps linking to it, and the file gets the new contents."""
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    heard = []
    reader = threading.Thread(target=lambda: heard.append(fifo.read_text()), daemon=True)
    reader.start()
    files.write_text(fifo, "digit,7\n")
    reader.join(timeout=10)
    assert heard == ["digit,7\n"] and stat.S_ISFIFO(fifo.lstat().st_mode)
    target = tmp_path / "answers.csv"
    target.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    files.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.csv", "latest.csv", "pipe"]


def test_stdout_redirected_to_a_file_gets_the_answers_and_then_the_table(tmp_path):
    """`digitrec predict --csv /dev/stdout photo.png > out.txt`: out.txt holds the printed answer,
    then the CSV, and stays the file the shell opened."""
    import subprocess
    import sys

    script = (
        "from digitrec import files; print('photo.png: 7', flush=False); "
        "files.write_text('/proc/self/fd/1', 'file,digit\\nphoto.png,7\\n')"  # where /dev/stdout leads
    )
    out = tmp_path / "out.txt"
    with open(out, "wb") as sink:
        subprocess.run([sys.executable, "-c", script], stdout=sink, check=True, timeout=60)
    assert out.read_text() == "photo.png: 7\nfile,digit\nphoto.png,7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert files._open_file(Path("/dev/stdout")) and not files._open_file(out)  # followed to /proc
