"""ensemble: averaged models, ensembles of one recipe's seeds (resumable) and of different recipes' runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from digitrec import store
from digitrec.errors import DigitrecError
from digitrec.training.config import resolve_config
from digitrec.training.runs import RunOptions
from digitrec.training.train import train_and_evaluate


def test_an_ensemble_averages_its_members(mnist):
    from digitrec.data import datasets
    from digitrec.training.architectures import build_model
    from digitrec.training.ensemble import ensemble_model

    members = [build_model(name, (28, 28, 1), 10) for name in ("fast_cnn", "seed_cnn", "fast_cnn")]
    x = datasets.scale_images(mnist.x_test[:16])
    each = [m.predict(x, verbose=0) for m in members]
    model = ensemble_model(members, name="three")
    assert model.name == "three" and model.output_shape == (None, 10)
    assert np.allclose(model.predict(x, verbose=0), np.mean(each, axis=0), atol=1e-6)
    with pytest.raises(DigitrecError, match="same shapes"):
        ensemble_model([members[0], build_model("fast_cnn", (28, 28, 1), 4)])


def test_cli_ensemble_trains_members_and_saves_one_model_and_resumes(tmp_path):
    from tests.support.helpers import run_cli

    run = tmp_path / "ens"
    args = ["--preset", "fast", "--epochs", "1", "--limit-train", "600", "--limit-test", "200", "--no-tensorboard"]
    proc = run_cli("train", *args, "--ensemble", "2", "--seed", "5", "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "members: " in proc.stdout and "their average: " in proc.stdout
    meta = json.loads((run / "metadata.json").read_text())
    members = meta["ensemble"]["members"]
    assert [m["run"] for m in members] == ["members/1-seed5", "members/2-seed6"]
    loaded = store.load_model(run / "model.h5")
    assert loaded.output_shape == (None, 10) and meta["model"]["parameters"] == 2 * 109018
    assert (run.parent / "latest").resolve() == run.resolve() and not (run / "members" / "latest").exists()
    # Killed after the first member: the same command skips it and trains the second only.
    shutil.rmtree(run / "members" / "2-seed6")
    (run / "metadata.json").unlink()
    again = run_cli("train", "--resume", str(run))
    assert again.returncode == 0, again.stderr
    assert "member 1/2 (seed 5) is already trained" in again.stdout and "member 2/2 (seed 6)" in again.stdout
    proc = run_cli("train", *args, "--ensemble", "1", "--run-dir", str(tmp_path / "one"))
    assert proc.returncode == 2 and "--ensemble: must be at least 2, not 1" in proc.stderr


def test_cli_ensemble_averages_runs_of_different_models(tmp_path):
    from digitrec.data import datasets
    from tests.support.helpers import run_cli

    options = {"epochs": 1, "limit_train": 400, "limit_test": 100, "tensorboard": False}
    runs = [
        train_and_evaluate(
            resolve_config(preset, {**options, "model": model}),
            RunOptions(run_dir=tmp_path / model, progress=False, log=lambda m: None),
            mark_latest=False,
        ).run_dir
        for preset, model in (("fast", "fast_cnn"), ("robust", "strided_cnn"))
    ]
    out = tmp_path / "both"
    proc = run_cli("ensemble", *map(str, runs), "--run-dir", str(out), "--limit-test", "100")
    assert proc.returncode == 0, proc.stderr
    assert "members: fast_cnn " in proc.stdout and ", strided_cnn " in proc.stdout and "test accuracy" in proc.stdout
    meta = json.loads((out / "metadata.json").read_text())
    assert [m["model"] for m in meta["ensemble"]["members"]] == ["fast_cnn", "strided_cnn"]
    assert [m["run"] for m in meta["ensemble"]["members"]] == [str(r) for r in runs]
    assert meta["training"]["epochs"] == 2 and meta["dataset"]["name"] == "mnist"
    assert (tmp_path / "latest").resolve() == out.resolve()
    x = datasets.scale_images(datasets.load_dataset("mnist").x_test[:100])
    each = [store.load_model(r / "model.keras").predict(x, verbose=0) for r in runs]
    assert np.allclose(store.load_model(out / "model.h5").predict(x, verbose=0), np.mean(each, axis=0), atol=1e-5)
    assert meta["test_metrics"]["accuracy"] == json.loads((out / "metrics.json").read_text())["test_accuracy"]

    # Refused in one line, nothing written: too few runs, one named twice, no run, a used folder, other data.
    other = tmp_path / "other"
    shutil.copytree(runs[1], other)
    changed = json.loads((other / "metadata.json").read_text())
    changed["dataset"].update(name="fashion_mnist", checksum="f" * 64)
    (other / "metadata.json").write_text(json.dumps(changed))
    for args, message, code in [  # 2: the command line cannot work (bad usage); 1: the runs cannot
        ([runs[0]], "at least 2 runs", 2),
        ([runs[0], runs[0]], "named twice", 2),
        ([runs[0], tmp_path], "not a finished run folder", 1),
        ([runs[0], runs[1], "--run-dir", out], "--run-dir " + str(out) + " is not empty", 2),
        ([runs[0], runs[1], "--run-dir", runs[0]], "one of the members", 2),
        ([runs[0], other], "trained on different data", 1),
    ]:
        proc = run_cli("ensemble", *map(str, args))
        assert proc.returncode == code and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (
            proc.stderr
        )
    assert json.loads((out / "metadata.json").read_text()) == meta


def test_an_average_of_open_set_runs_answers_as_one():
    """Members that all learned non-digits make an ensemble that did: its doubt is "not a digit"."""
    from digitrec.training.ensemble import _shared_threshold

    open_set = {"min_confidence": 0.6, "open_set": 0.1}
    assert _shared_threshold([open_set, dict(open_set)]) == {"min_confidence": 0.6, "open_set": 0.1}
    assert _shared_threshold([open_set, {"min_confidence": 0.9, "open_set": 0.0}]) == {}
    assert _shared_threshold([open_set, {"min_confidence": 0.6}]) == {"min_confidence": 0.6}
