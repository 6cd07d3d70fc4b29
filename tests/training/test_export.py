"""export: SavedModel and LiteRT files checked against Keras, quantized ones smaller."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from digitrec.reading.predictor import Predictor  # noqa: E402
from tests.support.helpers import draw_digit, run_cli


def test_export_savedmodel_and_tflite_agree_with_keras(tiny_run, tmp_path):
    proc = run_cli(
        "export", "--model", str(tiny_run.run_dir), "--out", str(tmp_path / "exp"), "--limit-test", "300", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (tmp_path / "exp" / "savedmodel" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "exp" / "model.tflite").stat().st_size > 100_000
    for fmt in ("savedmodel", "tflite"):
        assert report["exports"][fmt]["checked"] == 300 and report["exports"][fmt]["agreement"] >= 0.99
    from digitrec import store

    served = store.load_model(tmp_path / "exp" / "savedmodel" / "1")  # the one loader reads it back
    assert served.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)


@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_quantized_litert_exports_are_smaller_and_agree_with_keras(good_run, tmp_path, quantize):
    from digitrec.training.export import export_model

    plain = export_model(good_run.run_dir, "tflite", out=tmp_path / "float", check=False)["exports"]["tflite"]
    report = export_model(good_run.run_dir, "tflite", out=tmp_path / quantize, limit_test=300, quantize=quantize)
    item = report["exports"]["tflite"]
    assert item["quantize"] == quantize and item["bytes"] < 0.4 * plain["bytes"]  # int8 weights: about a quarter
    assert item["checked"] == 300 and item["agreement"] >= 0.98
    lite = Predictor(item["path"])  # float32 in and out, as every front end expects
    assert lite.backend == "litert" and lite.predict_image(draw_digit("7")).digit == 7
    proc = run_cli("export", "--model", str(good_run.run_dir), "--quantize", "int4")
    assert proc.returncode != 0 and "--quantize" in proc.stderr and "Traceback" not in proc.stderr


def test_an_older_run_without_a_litert_file_answers_with_keras_and_export_adds_it(tiny_run, tmp_path):

    old = tmp_path / "old-run"
    shutil.copytree(tiny_run.run_dir, old)
    (old / "model.tflite").unlink()
    assert Predictor(old).backend == "keras"
    proc = run_cli("export", "--model", str(old), "--to-run", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["file"] == "model.tflite" and record["agreement_with_keras"] >= 0.99
    assert json.loads((old / "metadata.json").read_text())["litert"] == record
    assert Predictor(old).backend == "litert"
    proc = run_cli("export", "--model", str(tmp_path / "nowhere"), "--to-run")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
