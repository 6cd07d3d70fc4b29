"""Runs survive being killed: SIGKILL mid-epoch or during the model save, and Ctrl+C, resume from
the last finished epoch with a complete history; bad run folders are one clear error."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.helpers import REPO, run_cli

ARGS = ["--limit-train", "3000", "--limit-test", "100", "--epochs", "3", "--no-tensorboard", "--seed", "2"]


def _terminal_ctrl_c() -> None:
    """In the child before it starts: Ctrl+C as a terminal delivers it. A test suite started in the
    background of a shell without job control inherits SIGINT ignored, and Python then keeps
    ignoring it: the training would never hear the Ctrl+C this file sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(run_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digitrec", "train", *ARGS, "--run-dir", str(run_dir), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_terminal_ctrl_c,
    )


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0, poll: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"training ended before the moment to kill it: {stderr[-500:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the moment to kill the training")
        time.sleep(poll)


def _first_checkpoint_written(run_dir: Path) -> bool:
    """Epoch 1's checkpoint is whole once its metadata (written last) reads as JSON: the file
    exists, empty, from the moment Keras opens it, and a kill then leaves nothing to resume from."""
    import json

    try:
        return isinstance(json.loads((run_dir / "checkpoints" / "training_metadata.json").read_text()), dict)
    except (OSError, ValueError):
        return False


def _epochs(run_dir: Path) -> list[str]:
    return [row["epoch"] for row in csv.DictReader((run_dir / "history.csv").open())]


def _check_complete(run_dir: Path) -> None:
    from digitrec import store

    assert _epochs(run_dir) == ["1", "2", "3"]  # every epoch, once
    for name in ("model.keras", "model.h5"):
        assert store.load_model(run_dir / name).output_shape == (None, 10)
    assert (run_dir / "metadata.json").is_file() and not (run_dir / "checkpoints").exists()


def test_sigkill_mid_epoch_resumes_not_restarts(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    # From here on the process is in epoch 2, and killing it loses that epoch's work only.
    _wait_for(lambda: _first_checkpoint_written(run), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = run_cli("train", *ARGS, "--run-dir", str(run))  # the same command, run again
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stdout and "after epoch" in again.stdout
    resumed_from = int(again.stdout.split("after epoch ")[1].split()[0])
    assert resumed_from >= 1
    assert f"epoch {resumed_from + 1}/3" in again.stdout and "epoch 1/3" not in again.stdout
    _check_complete(run)


def test_sigkill_during_the_model_save_loses_nothing(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for(
        lambda: (
            any(p.name.startswith((".model.keras.tmp", ".model.h5.tmp")) for p in run.iterdir())
            if run.is_dir()
            else False
        ),
        proc,
        poll=0.0005,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "metadata.json").exists()
    again = run_cli("train", "--resume", str(run))
    assert again.returncode == 0, again.stderr
    assert "after epoch 3 of 3" in again.stdout
    _check_complete(run)
    assert not [p for p in run.iterdir() if ".tmp" in p.name]


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for(lambda: _first_checkpoint_written(run), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and f"resume with `digitrec train --resume {run}`" in err
    again = run_cli("train", "--resume", str(run))
    assert again.returncode == 0, again.stderr
    _check_complete(run)


def test_bad_run_folders_are_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = run_cli("train", *ARGS, "--run-dir", str(blocker / "run"))
    assert proc.returncode == 1 and "cannot create run folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("train", "--resume", str(tmp_path))
    assert proc.returncode == 1 and "not a run folder" in proc.stderr


def _file_size_limit(max_bytes: int):
    """A child whose every file stops growing at `max_bytes`: writes past it fail (EFBIG) as on a
    full disk. Python ignores SIGXFSZ, so the write fails instead of the process being killed."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def test_disk_full_mid_training_is_one_line_and_the_run_resumes(tmp_path, mnist):  # the cache is ready
    run = tmp_path / "run"
    command = [sys.executable, "-m", "digitrec", "train", *ARGS, "--run-dir", str(run)]
    # The first epoch's checkpoint (weights and optimizer state, ~14 MB) does not fit.
    full = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=_file_size_limit(1_000_000)
    )
    lines = full.stderr.strip().splitlines()
    assert full.returncode == 1 and len(lines) == 1, full.stderr
    assert "cannot write" in lines[0] and "File too large" in lines[0] and f"--resume {run}" in lines[0]
    assert not (run / "metadata.json").exists() and not [p for p in run.iterdir() if ".tmp" in p.name]
    again = run_cli("train", "--resume", str(run))  # room again: the same run completes
    assert again.returncode == 0, again.stderr
    _check_complete(run)

    # Rewriting a finished run's results on a full disk: one line, and every file is whole.
    from PIL import Image

    from digitrec.files import read_json

    before = (run / "report.txt").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "digitrec", "evaluate", "--model", str(run), "--limit-test", "50", "--out", str(run)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_file_size_limit(4000),
    )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert not [p for p in run.iterdir() if ".tmp" in p.name]
    assert isinstance(read_json(run / "metrics.json"), dict)
    after = (run / "report.txt").read_bytes()  # the old report, or a whole new one of the 50 images
    assert after == before or re.search(rb"errors? in 50\), loss [0-9.]+\n$", after), after[-200:]
    for chart in run.glob("*.png"):
        with Image.open(chart) as image:
            image.verify()  # a whole PNG: the old one or a complete new one
    _check_complete(run)
