"""cli_output: progress on stderr when stdout is JSON, JSON of numpy values, names that never
collide, PNGs written whole."""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image

from digitrec.cli.output import log_to, print_json, save_png, say_default_model, say_failure, unique_path
from digitrec.store import ModelChoice


def test_progress_goes_to_stderr_when_stdout_carries_json(capsys):
    log_to(True)("beside JSON")
    log_to(False)("alone")
    out, err = capsys.readouterr()
    assert (out, err) == ("alone\n", "beside JSON\n")


def test_the_default_model_and_a_failure_are_json_lines_for_a_json_log(tmp_path, capsys):
    """`serve --log-format json` names the model it chose, and says why it cannot start, as JSON;
    every other command, as a line of text."""
    chosen = ModelChoice(tmp_path / "model.tflite", "litert", name="model.tflite", default=True)
    say_default_model(chosen)
    say_default_model(chosen, "json")
    say_default_model(ModelChoice(tmp_path / "named.tflite", "litert", default=False), "json")  # named: no line
    say_failure(argparse.Namespace(), "error: no such file")
    say_failure(argparse.Namespace(log_format="json"), "error: the port is in use")
    out, err = capsys.readouterr()
    text, as_json, failure, failure_json = err.splitlines()
    assert out == "" and text == f"digitrec: using {chosen.describe()}" and failure == "digitrec: error: no such file"
    assert (json.loads(as_json)["level"], json.loads(as_json)["message"]) == ("warning", text)
    assert (json.loads(failure_json)["level"], json.loads(failure_json)["message"]) == (
        "error",
        "digitrec: error: the port is in use",
    )


def test_json_of_numpy_values(capsys):
    print_json({"accuracy": np.float32(0.5), "counts": np.arange(3)})
    assert json.loads(capsys.readouterr().out) == {"accuracy": 0.5, "counts": [0, 1, 2]}


def test_names_never_collide_and_pngs_are_whole(tmp_path):
    used: set[str] = set()
    paths = [unique_path(tmp_path, "seven", used) for _ in range(3)]
    assert [p.name for p in paths] == ["seven.png", "seven-2.png", "seven-3.png"]
    save_png(Image.new("L", (28, 28), 255), paths[0])
    assert Image.open(paths[0]).size == (28, 28) and [p.name for p in tmp_path.iterdir()] == ["seven.png"]
