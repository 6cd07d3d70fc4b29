"""runtime: LiteRT and Keras backends answer alike, without TensorFlow for LiteRT, from many threads."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from digitrec.errors import DigitrecError
from digitrec.reading.predictor import Predictor
from tests.support.helpers import draw_digit


def test_the_litert_path_agrees_with_keras(tiny_run, mnist, tmp_path):
    from digitrec.training.export import export_model

    report = export_model(tiny_run.run_dir, "tflite", out=tmp_path, check=False)
    lite = Predictor(report["exports"]["tflite"]["path"])
    keras_predictor = Predictor(tiny_run.run_dir / "model.keras")  # a file named outright loads as it is
    assert lite.backend == "litert" and keras_predictor.backend == "keras"
    x = mnist.x_test[:64].astype(np.float32) / 255.0
    np.testing.assert_allclose(lite.predict_arrays(x), keras_predictor.predict_arrays(x), atol=1e-5)
    assert lite.predict_arrays(x[:1]).shape == (1, 10)  # batch sizes change freely
    (tmp_path / "broken.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(DigitrecError, match="not a usable LiteRT"):
        Predictor(tmp_path / "broken.tflite")


def test_predicting_with_the_shipped_model_never_imports_tensorflow(tmp_path):
    from digitrec.store import PRETRAINED
    from tests.support.helpers import need

    need(PRETRAINED.with_suffix(".tflite").is_file(), "the shipped LiteRT model (make pretrained)")
    answer, imported, proc = _predict_a_seven_in_a_fresh_process(tmp_path, tmp_path / "none")
    assert answer["digit"] == 7 and answer["model"] == "pretrained"
    assert imported == "False 0"
    assert proc.stderr.startswith("digitrec: using the shipped model (LiteRT") and proc.stderr.count("\n") == 1


def test_a_run_answers_from_its_own_litert_file_without_tensorflow(tiny_run, mnist, tmp_path):
    """Every run gets a LiteRT file, checked against its Keras model; the front ends pick it up."""
    run = tiny_run.run_dir
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["litert"]["file"] == "model.tflite" and meta["model"]["files"]["litert"] == "model.tflite"
    assert meta["litert"]["checked"] == 200 and meta["litert"]["agreement_with_keras"] >= 0.99
    lite, keras_predictor = Predictor(run), Predictor(run / "model.keras")
    assert (lite.backend, keras_predictor.backend) == ("litert", "keras") and lite.name == run.name
    x = mnist.x_test[:200].astype(np.float32) / 255.0
    agree = (lite.predict_arrays(x).argmax(axis=1) == keras_predictor.predict_arrays(x).argmax(axis=1)).mean()
    assert agree >= 0.99
    answer, imported, proc = _predict_a_seven_in_a_fresh_process(tmp_path, run.parent)
    assert answer["model"] == run.name and imported == "False 0"
    assert proc.stderr.strip() == f"digitrec: using run {run.name} (LiteRT, {run / 'model.tflite'})"


def test_the_litert_model_answers_from_many_threads_at_once(mnist):
    """The web service calls the model from a thread pool: one interpreter, many threads. Batch
    sizes alternate, so an unguarded call would resize the tensors under another's feet."""
    from concurrent.futures import ThreadPoolExecutor

    from digitrec.runtime import LiteRTModel
    from digitrec.store import PRETRAINED
    from tests.support.helpers import need

    need(PRETRAINED.with_suffix(".tflite").is_file(), "the shipped LiteRT model (make pretrained)")
    model = LiteRTModel(PRETRAINED.with_suffix(".tflite"))
    x = mnist.x_test[:24].astype(np.float32) / 255.0
    batches = [x[i : i + (1 + i % 3)] for i in range(0, 20)]
    expected = [model.predict(b) for b in batches]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            got = list(pool.map(model.predict, batches))
            assert all(np.allclose(g, e, atol=1e-6) for g, e in zip(got, expected))


def _predict_a_seven_in_a_fresh_process(tmp_path, runs_root):
    """`digitrec predict seven.png --json` in a new interpreter: its answer, whether TensorFlow
    was imported and the exit code ("False 0"), and the process."""
    import subprocess

    draw_digit("7").save(tmp_path / "seven.png")
    code = (
        "import sys; from digitrec.cli.main import main; "
        f"code = main(['predict', {str(tmp_path / 'seven.png')!r}, '--runs-root', {str(runs_root)!r}, '--json']); "
        "print('tensorflow' in sys.modules, code)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[0]), lines[-1], proc
