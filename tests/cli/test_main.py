"""The real `digitrec` command and `python main.py`, run as subprocesses, as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from digitrec.store import PRETRAINED
from tests.support.helpers import REPO, draw_digit, run_cli


def _one_line_error(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("digitrec: error: ")
    return lines[0]


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    assert _one_line_error(run_cli("train", "--epochs", "0"), 2) == "digitrec: error: --epochs must be at least 1"
    assert _one_line_error(run_cli("train", "--batch-size", "0"), 2).endswith(": --batch-size must be at least 1")
    unknown = _one_line_error(run_cli("train", "--dataset", "svhn", "--epochs", "1"), 2)
    assert unknown.startswith("digitrec: error: --dataset 'svhn' is unknown; choose one of mnist, ")
    assert unknown.endswith("(or any name, with a data file of your own)")
    assert "no model at" in _one_line_error(run_cli("evaluate", "--model", str(tmp_path / "missing.keras")))
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert "not an HDF5 model file" in _one_line_error(run_cli("evaluate", "--model", str(junk)))
    assert "cifar10 is not available" in _one_line_error(run_cli("data", "info", "--dataset", "cifar10", "--offline"))
    usage = run_cli("train", "--epochs", "many")
    assert usage.returncode == 2 and "invalid int value" in usage.stderr


# Bad usage through the real entry point: (arguments, what the one line on stderr says). Each
# exits 2 before anything is loaded or written.
BAD_USAGE = [
    (["train", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--epochs", "-1"], "--epochs must be at least 1"),
    (["train", "--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["train", "--model", "nosuch_cnn", "--epochs", "1"], "--model 'nosuch_cnn' is unknown; choose one of"),
    (["train", "--ensemble", "1"], "argument --ensemble: must be at least 2, not 1"),
    (["predict"], "give image files or folders, or --random N"),
    (["serve", "--job-timeout", "0"], "argument --job-timeout: must be a positive number of seconds, not 0"),
    (["serve", "--job-timeout", "inf"], "argument --job-timeout: must be a positive number of seconds, not inf"),
    (["serve", "--job-timeout", "soon"], "argument --job-timeout: 'soon' is not a number of seconds"),
    (["serve", "--max-queue", "-1"], "argument --max-queue: must be at least 0, not -1"),
    (["serve", "--keep-alive", "0"], "argument --keep-alive: must be between 1 and 3600, not 0"),
    (["serve", "--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["predict", "--random", "0"], "argument --random: must be at least 1, not 0"),
    (["predict", "--random", "-5"], "argument --random: must be at least 1, not -5"),
    (["predict", "--random", "5", "photo.png"], "give image files or --random N, not both"),
    (["predict", "--random", "5", "--show-steps", "steps"], "--show-steps reads your images"),
    (["predict", "--random", "5", "--number"], "--number reads your images"),
    (["predict", "--seed", "3", "photo.png"], "--seed goes with --random N"),
    (["predict", "--grid", "g.png", "photo.png"], "--grid goes with --random N"),
    (["predict", "--number", "--show-steps", "steps", "photo.png"], "--show-steps charts one digit's steps"),
    (["predict", "--min-confidence", "1.5", "photo.png"], "argument --min-confidence: must be between 0 and 1"),
    (["predict", "--csv", ".", "photo.png"], "--csv . is a folder; give a file"),  # not after reading every image
    (["predict", "--random", "3", "--grid", "."], "--grid . is a folder; give a file"),
    (["explain", "--out", "/dev/null", "photo.png"], "--out /dev/null is a file; give a folder"),
    (["evaluate", "--out", "/dev/null"], "--out /dev/null is a file; give a folder"),
    (["export", "--out", "/dev/null"], "--out /dev/null is a file; give a folder"),
    (["export", "--out", "model.tflite"], "--out model.tflite names a file; give the folder to write into"),
    (["explain", "--out", "why.PNG", "photo.png"], "--out why.PNG names a file; give the folder"),
    (["predict", "--save-preprocessed", "digits.png", "photo.png"], "--save-preprocessed digits.png names a file"),
    (["predict", "--min-confidence", "high", "photo.png"], "argument --min-confidence: 'high' is not a number"),
    (["explain", "--digit", "12", "photo.png"], "argument --digit: must be between 0 and 9, not 12"),
    (["serve", "--workers", "0"], "argument --workers: must be between 1 and "),
    (["serve", "--workers", "1000"], "argument --workers: must be between 1 and "),  # a thousand processes
    (["serve", "--port", "70000"], "argument --port: must be between 1 and 65535, not 70000"),
    (["serve", "--port", "84386"], "argument --port: must be between 1 and 65535, not 84386"),
    (["serve", "--port", "-5"], "argument --port: must be between 1 and 65535, not -5"),
    (["serve", "--host", "999.1.1.1"], "--host '999.1.1.1' is not an address"),
    (["evaluate", "--limit-test", "0"], "argument --limit-test: must be at least 1, not 0"),
    (["export", "--format", "onnx"], "argument --format: invalid choice: 'onnx'"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    (["ensemble", "runs/a"], "an ensemble needs at least 2 runs"),  # before any run is opened
    (["ensemble", "runs/a", "runs/b/", "runs/a"], "a run is named twice; name each member once"),
]


def test_bad_usage_is_one_line_and_exit_2_with_nothing_left_behind(tmp_path):
    """The README's contract, for every subcommand: bad usage exits 2 with one line naming the
    option, no traceback, and leaves no file (a run folder, a grid) behind."""
    for args, said in BAD_USAGE:
        proc = run_cli(*args, cwd=tmp_path, env={"DIGITREC_RUNS": str(tmp_path / "runs")})
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert lines[0].startswith(("digitrec: error: ", f"digitrec {args[0]}: error: ", "digitrec: error")), lines
        assert list(tmp_path.iterdir()) == [], (args, list(tmp_path.iterdir()))


def test_more_random_images_than_the_test_set_is_bad_usage(mnist, tmp_path):
    """`--random N` above the test set says so before any model loads (it was capped without a word)."""
    proc = run_cli("predict", "--random", "20000", cwd=tmp_path)
    said = "digitrec: error: --random must be between 1 and the 10,000 test images, not 20,000"
    assert _one_line_error(proc, 2) == said
    assert list(tmp_path.iterdir()) == []


def test_failures_are_one_line_and_exit_1(tmp_path):
    """A file that is not there, a model file of the wrong kind, a data file that is no .npz, a port
    in use: one line each, in the command's own words."""
    assert _one_line_error(run_cli("predict", str(tmp_path / "gone.png"))) == (
        f"digitrec: error: {tmp_path / 'gone.png'}: no such file"
    )
    gone = run_cli("predict", str(tmp_path / "gone.png"), "--json")  # still one JSON object per input
    assert gone.returncode == 1 and json.loads(gone.stdout) == {
        "file": str(tmp_path / "gone.png"),
        "error": f"{tmp_path / 'gone.png'}: no such file",
    }
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer")
    seven = tmp_path / "seven.png"
    draw_digit("7").save(seven)
    line = _one_line_error(run_cli("explain", "--model", str(junk), str(seven), "--out", str(tmp_path)))
    assert line.startswith(f"digitrec: error: {junk} is not a usable LiteRT/TFLite model") and "unexpected" not in line
    shipped = PRETRAINED.with_suffix(".tflite")
    line = _one_line_error(run_cli("export", "--model", str(shipped), "--no-check", "--out", str(tmp_path / "x")))
    assert line == (
        f"digitrec: error: {shipped} is a LiteRT model; this needs the Keras model (.keras, .h5, a SavedModel "
        "folder, or the run folder it came from)"
    )
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG not really")
    assert _one_line_error(run_cli("data", "info", "--data-file", str(fake))) == (
        f"digitrec: error: {fake} is not a readable .npz file"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_error(run_cli("serve", "--port", str(port)))
        as_json = run_cli("serve", "--port", str(port), "--log-format", "json")  # its every line is JSON
    in_use = "the port is in use (another `digitrec serve`? try --port)"
    assert line == f"digitrec: error: cannot listen on 127.0.0.1:{port}: {in_use}"
    (entry,) = (json.loads(said) for said in as_json.stderr.splitlines())
    assert as_json.returncode == 1 and as_json.stdout == ""
    assert (entry["level"], entry["message"]) == ("error", line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.png", "junk.tflite", "seven.png"]
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "config.json").write_text("{}")
    (finished / "metadata.json").write_text("{}")
    assert _one_line_error(run_cli("train", "--resume", str(finished))) == (
        f"digitrec: error: {finished} is a finished run: nothing to resume (repeat it in a new folder with "
        f"`digitrec train --config {finished / 'config.json'}`)"
    )


def test_library_errors_are_worded_as_flags_and_hints(tmp_path):
    """The library names settings and stays silent on commands; the command line words them."""
    from digitrec.cli.main import error_line, flag
    from digitrec.errors import DigitrecError, OptionError
    from digitrec.store import NoModelError
    from digitrec.training.runs import RunStopped, TrainingInterrupted

    assert (flag("open_set"), flag("members"), flag("run_dir")) == ("--open-set", "--ensemble", "--run-dir")
    assert error_line(OptionError("members", "must be at least 2")) == ("error: --ensemble must be at least 2", 2)
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


def test_an_unknown_flag_is_told_by_its_subcommand(capsys):
    """argparse names the top level for a flag it does not know, whose --help lists no flag of
    `evaluate`; the line names the subcommand and its --help, and nothing loads."""
    from digitrec.cli.main import main

    assert main(["evaluate", "--offline", "--limit-test", "5"]) == 2
    said = "digitrec evaluate: error: unrecognized arguments: --offline (see `digitrec evaluate --help`)\n"
    assert capsys.readouterr().err == said
    assert main(["predict", "photo.png", "--bogus", "x"]) == 2
    assert "digitrec predict: error: unrecognized arguments: --bogus x (see" in capsys.readouterr().err
