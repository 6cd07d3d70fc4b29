"""The real `digitrec` command and `python main.py`, run as subprocesses, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.helpers import REPO, run_cli


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("digitrec: error: ")
    return lines[0]


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    assert _one_line_error(run_cli("train", "--epochs", "0")) == "digitrec: error: --epochs must be at least 1"
    assert _one_line_error(run_cli("train", "--batch-size", "0")).endswith(": --batch-size must be at least 1")
    unknown = _one_line_error(run_cli("train", "--dataset", "svhn", "--epochs", "1"))
    assert unknown.startswith("digitrec: error: --dataset 'svhn' is unknown; choose one of mnist, ")
    assert unknown.endswith("(or any name, with a data file of your own)")
    assert "no model at" in _one_line_error(run_cli("evaluate", "--model", str(tmp_path / "missing.keras")))
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert "not an HDF5 model file" in _one_line_error(run_cli("evaluate", "--model", str(junk)))
    assert "cifar10 is not available" in _one_line_error(run_cli("data", "info", "--dataset", "cifar10", "--offline"))
    usage = run_cli("train", "--epochs", "many")
    assert usage.returncode == 2 and "invalid int value" in usage.stderr


def test_library_errors_are_worded_as_flags_and_hints(tmp_path):
    """The library names settings and stays silent on commands; the command line words them."""
    from digitrec.cli.main import error_line, flag
    from digitrec.errors import DigitrecError, OptionError
    from digitrec.store import NoModelError
    from digitrec.training.runs import RunStopped, TrainingInterrupted

    assert (flag("open_set"), flag("members"), flag("run_dir")) == ("--open-set", "--ensemble", "--run-dir")
    assert error_line(OptionError("members", "must be at least 2")) == ("error: --ensemble must be at least 2", 1)
    stopped = RunStopped(tmp_path, "cannot write x: disk full")
    assert error_line(stopped) == (
        f"error: cannot write x: disk full: resume with `digitrec train --resume {tmp_path}`",
        1,
    )
    line, code = error_line(TrainingInterrupted(tmp_path, 2, 5))
    assert code == 130 and line.startswith("interrupted after 2 of 5 epochs") and line.endswith(f"--resume {tmp_path}`")
    assert error_line(NoModelError("no model at x", tmp_path / "x")) == (
        "error: no model at x: train one with `digitrec train`, or check the path",
        1,
    )
    assert error_line(NoModelError("no trained model found in runs/")) == (
        "error: no trained model found in runs/: train one with `digitrec train` (or `make run`), or pass --model PATH",
        1,
    )
    assert error_line(DigitrecError("plain")) == ("error: plain", 1)


def test_python_dash_m_digitrec_is_the_same_command():
    for module in ("digitrec", "digitrec.cli"):
        proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.startswith("digitrec "), (module, proc.stderr)


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
    from tests.support.helpers import need

    need(PRETRAINED.is_file(), "the shipped model (make pretrained)")
    proc = run_cli(
        "predict", "--runs-root", str(tmp_path / "no-runs"), "--random", "20", "--seed", "0", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["correct"] >= 19
    assert (tmp_path / "random_test.png").is_file()  # the grid goes to the working folder,
    assert not list(PRETRAINED.parent.glob("*.png"))  # never into the installed package
