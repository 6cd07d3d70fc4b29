"""The real `digitrec` command and `python main.py`, run as subprocesses, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, run_cli


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("digitrec: error: ")
    return lines[0]


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    _one_line_error(run_cli("train", "--epochs", "0"))
    assert "unknown dataset" in _one_line_error(run_cli("train", "--dataset", "svhn", "--epochs", "1"))
    assert "no model at" in _one_line_error(run_cli("evaluate", "--model", str(tmp_path / "missing.keras")))
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert "not an HDF5 model file" in _one_line_error(run_cli("evaluate", "--model", str(junk)))
    assert "cifar10 is not available" in _one_line_error(run_cli("data", "info", "--dataset", "cifar10", "--offline"))
    usage = run_cli("train", "--epochs", "many")
    assert usage.returncode == 2 and "invalid int value" in usage.stderr


def test_main_py_is_the_same_command():
    proc = subprocess.run([sys.executable, "main.py", "--version"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("digitrec ")
    proc = subprocess.run(
        [sys.executable, "main.py", "train", "--list-models"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "seed_cnn" in proc.stdout.split()


def test_console_script_is_installed():
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "digitrec"
    assert script.exists() or shutil.which("digitrec"), "the digitrec console script"
    proc = subprocess.run([str(script) if script.exists() else "digitrec", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train" in proc.stdout and "evaluate" in proc.stdout


def test_without_runs_the_shipped_model_answers(tmp_path):
    from digitrec.store import PRETRAINED

    from conftest import need

    need(PRETRAINED.is_file(), "the shipped model (make pretrained)")
    proc = run_cli(
        "predict", "--runs-root", str(tmp_path / "no-runs"), "--random", "20", "--seed", "0", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["correct"] >= 19
    assert (tmp_path / "random_test.png").is_file()  # the grid goes to the working folder,
    assert not list(PRETRAINED.parent.glob("*.png"))  # never into the installed package
