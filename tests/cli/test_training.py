"""cli_training: `digitrec train`, `evaluate` and `data` as a user runs them."""

from __future__ import annotations

import json

from tests.support.helpers import run_cli


def test_train_then_evaluate_through_the_cli(tmp_path):
    runs = tmp_path / "runs"
    proc = run_cli(
        "train",
        "--limit-train",
        "300",
        "--limit-test",
        "100",
        "--epochs",
        "1",
        "--runs-root",
        str(runs),
        "--no-tensorboard",
    )
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stdout  # one line per epoch when stdout is not a terminal
    assert "test accuracy" in proc.stdout and "run folder:" in proc.stdout
    assert "trained 1 epoch in " in proc.stdout, proc.stdout  # not "1 epochs"
    run = (runs / "latest").resolve()
    assert (run / "model.keras").is_file() and (run / "model.h5").is_file()
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["command"].startswith("digitrec train --limit-train 300")

    proc = run_cli("evaluate", "--model", str(run / "model.h5"), "--limit-test", "100", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["test_samples"] == 100 and result["out_dir"] == str(run)

    proc = run_cli("evaluate", "--runs-root", str(runs), "--limit-test", "60")  # the newest run by default
    assert proc.returncode == 0 and "60 test images" in proc.stdout, proc.stderr
    # 60 of the run's 100 go to a folder of their own: the run's record of 100 stays.
    assert json.loads((run / "metrics.json").read_text())["test_samples"] == 100
    assert [p.name.endswith("-first60") for p in runs.iterdir() if "-eval-" in p.name] == [True]


def test_train_repeats_a_saved_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"epochs": 1, "limit_train": 128, "limit_test": 32, "tensorboard": False, "seed": 5}))
    proc = run_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test_samples"] == 32
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 5
    # trained outside the runs folder: not the default model, and it says how to use it
    assert f"so not the default model: answer with it by --model {tmp_path / 'run'} " in proc.stderr


def test_data_info_json():
    proc = run_cli("data", "info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["shapes"]["x_train"] == [60000, 28, 28, 1] and info["verified"] is True
    assert info["test_class_counts"][0] == 980
