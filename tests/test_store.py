"""Run folders, the `latest` pointer, and the one model loader with its errors."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from digitrec import store
from digitrec.errors import DigitrecError


def test_run_folders_are_unique_and_latest_points_at_the_newest(tmp_path):
    a = store.new_run_dir(tmp_path, "same name")
    b = store.new_run_dir(tmp_path, "same name")
    assert a.name == "same-name" and b.name == "same-name-2"
    assert store.latest_run(tmp_path) is None
    store.mark_latest(a)
    store.mark_latest(b)
    assert store.latest_run(tmp_path) == b.resolve()


def test_without_the_latest_link_the_run_saved_last_answers(tmp_path):
    """A run folder copied into runs/ (no `latest` link) is still found: the one whose model was
    saved last; folders without a model, and hidden ones, are not runs."""
    import os

    assert store.latest_run(tmp_path / "nothing here") is None
    for name, stamp in [("old", 1_000), ("new", 2_000), (".hidden", 3_000)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.keras").write_bytes(b"zip")
        os.utime(tmp_path / name / "model.keras", (stamp, stamp))
    (tmp_path / "empty").mkdir()
    assert store.latest_run(tmp_path) == tmp_path / "new"
    store.mark_latest(tmp_path / "old")  # the link, once there, decides
    assert store.latest_run(tmp_path) == (tmp_path / "old").resolve()


def test_find_model_file_explains_what_is_missing(tmp_path):
    with pytest.raises(store.NoModelError, match=f"no trained model found in {tmp_path}/$"):
        store.find_model_file(None, tmp_path, pretrained=False)
    with pytest.raises(store.NoModelError, match="no model at .*nope.keras$"):
        store.find_model_file(tmp_path / "nope.keras")
    with pytest.raises(DigitrecError, match="folder without a model"):
        store.find_model_file(tmp_path)


def test_round_trip_in_both_formats(tiny_run):
    keras_model = store.load_model(tiny_run.run_dir / "model.keras")
    h5_model = store.load_model(tiny_run.run_dir / "model.h5")
    by_folder = store.load_model(tiny_run.run_dir)
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    reference = keras_model.predict(x, verbose=0)
    assert reference.shape == (5, 10)
    np.testing.assert_allclose(h5_model.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(by_folder.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-6)


def test_h5_is_plain_keras_loadable(tiny_run):
    import keras

    model = keras.models.load_model(tiny_run.run_dir / "model.h5", compile=False)
    assert model.output_shape == (None, 10)


def test_saved_model_folder_loads_through_the_same_loader(tiny_run, tmp_path):
    model = store.load_model(tiny_run.run_dir / "model.keras")
    export_dir = tmp_path / "savedmodel"
    model.export(str(export_dir), verbose=False)
    served = store.load_model(export_dir)
    x = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(
        np.asarray(served.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_loader_errors_are_one_sentence(tiny_run, tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("this is not a model")
    with pytest.raises(DigitrecError, match="not a Keras model file"):
        store.load_model(text)

    truncated = tmp_path / "cut.keras"
    truncated.write_bytes((tiny_run.run_dir / "model.keras").read_bytes()[:5000])
    with pytest.raises(DigitrecError, match="cut.keras"):
        store.load_model(truncated)

    bad_h5 = tmp_path / "bad.h5"
    bad_h5.write_bytes(b"\x89HDF\r\n" + b"0" * 100)
    with pytest.raises(DigitrecError, match="not an HDF5 model file"):
        store.load_model(bad_h5)

    cut_h5 = tmp_path / "cut.h5"
    cut_h5.write_bytes((tiny_run.run_dir / "model.h5").read_bytes()[:20000])
    with pytest.raises(DigitrecError, match="cut.h5"):
        store.load_model(cut_h5)

    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(DigitrecError, match="unknown model format .onnx"):
        store.load_model(other)


def test_a_model_from_an_incompatible_keras_says_so(tiny_run, tmp_path):
    source = tiny_run.run_dir / "model.keras"
    future = tmp_path / "future.keras"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(future, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "metadata.json":
                content = json.dumps({**json.loads(content), "keras_version": "4.0.0"}).encode()
            if item.filename == "config.json":
                config = json.loads(content)
                config["class_name"] = "HyperSequential"  # a class this Keras does not have
                content = json.dumps(config).encode()
            zout.writestr(item, content)
    with pytest.raises(DigitrecError, match=r"saved by Keras 4\.0\.0 and cannot be loaded by Keras 3"):
        store.load_model(future)


def test_save_model_writes_both_formats_atomically(tiny_run, tmp_path):
    model = store.load_model(tiny_run.run_dir)
    written = store.save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5", "model.keras"]
    assert written["keras"].stat().st_size > 100_000 and written["h5"].stat().st_size > 100_000


def test_no_run_falls_back_to_the_shipped_model(tmp_path, monkeypatch):
    shipped = tmp_path / "pretrained" / "model.keras"
    monkeypatch.setattr(store, "PRETRAINED", shipped)
    with pytest.raises(DigitrecError, match="no trained model found"):
        store.find_model_file(None, tmp_path / "runs")
    shipped.parent.mkdir()
    shipped.write_bytes(b"stand-in")
    assert store.find_model_file(None, tmp_path / "runs") == shipped
    run = store.new_run_dir(tmp_path / "runs", "r")
    (run / "model.keras").write_bytes(b"x")
    store.mark_latest(run)
    assert store.find_model_file(None, tmp_path / "runs") == run.resolve() / "model.keras"  # a run wins
