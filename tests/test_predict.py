"""Predictor: arrays, images, numbers, "no digit", files; and `digitrec predict` as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitrec import DigitrecError
from digitrec.predict import Failure, Predictor, expand_inputs
from realistic import digit_sample, non_digit_sample, number_sample

from conftest import REPO, draw_digit, run_cli


@pytest.fixture(scope="module")
def predictor(good_run):
    return Predictor(good_run.run_dir)


def test_probabilities_for_arrays(predictor, mnist):
    x = mnist.x_test[:50].astype(np.float32) / 255.0
    probs = predictor.predict_arrays(x)
    assert probs.shape == (50, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs.argmax(axis=1) == mnist.y_test[:50]).mean() > 0.9
    assert predictor.predict_arrays(x[0, ..., 0]).shape == (1, 10)  # one 28x28 array
    with pytest.raises(DigitrecError, match="28, 28"):
        predictor.predict_arrays(np.zeros((2, 32, 32)))


def test_photos_of_mnist_test_digits_are_read(predictor, mnist):
    rng = np.random.default_rng(0)
    right = 0
    for i in range(20):
        sample = digit_sample(mnist.x_test[i, ..., 0], int(mnist.y_test[i]), "phone_photo", rng)
        answer = predictor.predict_image(sample.encoded)
        right += answer.best_guess == int(sample.label)
        assert len(answer.probabilities) == 10 and answer.preprocessed.shape == (28, 28)
    assert right >= 17  # a 96 % model on photos with uneven light and JPEG artifacts


def test_a_drawn_digit_has_its_answer_and_top_k(predictor):
    answer = predictor.predict_image(draw_digit("1", size=(200, 260)))
    assert answer.best_guess == 1
    top = answer.top_k(3)
    assert top[0][0] == 1 and top[0][1] >= top[1][1] >= top[2][1]
    d = answer.to_dict()
    assert set(d) >= {"file", "digit", "confidence", "probabilities"} and len(d["probabilities"]) == 10


def test_blank_and_noise_are_no_digit(predictor):
    rng = np.random.default_rng(1)
    blank = predictor.predict_image(non_digit_sample("blank", rng, []).encoded)
    assert blank.digit is None and "no ink" in blank.reason
    noise = predictor.predict_image(rng.integers(0, 256, (200, 200), dtype=np.uint8))
    assert noise.digit is None and ("noise" in noise.reason or "uncertain" in noise.reason)


def test_uncertain_below_the_threshold(good_run):
    strict = Predictor(good_run.run_dir, min_confidence=0.999999)
    answers = [strict.answer(row) for row in np.full((1, 10), 0.1)]
    assert answers[0].digit is None and answers[0].reason.startswith("uncertain")
    assert answers[0].to_dict()["reason"].startswith("uncertain")


def test_whole_numbers(predictor, mnist):
    rng = np.random.default_rng(2)
    exact = 0
    for _ in range(6):
        idx = rng.choice(200, 3, replace=False)
        sample = number_sample([mnist.x_test[i, ..., 0] for i in idx], [int(mnist.y_test[i]) for i in idx], rng)
        result = predictor.predict_number(sample.encoded)
        exact += result.number == sample.label
        assert set(result.to_dict()) >= {"file", "number", "digits"}
    assert exact >= 4
    empty = predictor.predict_number(Image.new("L", (100, 40), 230))
    assert empty.number is None and empty.digits == [] and "no ink" in empty.reason


def _touching_pair(a: np.ndarray, b: np.ndarray) -> Image.Image:
    """Two MNIST digits side by side with their strokes overlapping by a pixel, dark on light, 5x."""
    crops = []
    for d in (a, b):
        cols = np.flatnonzero(d.max(axis=0) > 40)
        crops.append(d[:, cols[0] : cols[-1] + 1].astype(np.float32))
    row = np.zeros((28, crops[0].shape[1] + crops[1].shape[1] + 8), np.float32)
    row[:, 4 : 4 + crops[0].shape[1]] = crops[0]
    x = 3 + crops[0].shape[1]
    row[:, x : x + crops[1].shape[1]] = np.maximum(row[:, x : x + crops[1].shape[1]], crops[1])
    image = Image.fromarray((255 - row).astype(np.uint8))
    return image.resize((image.width * 5, image.height * 5), Image.Resampling.BILINEAR)


def test_touching_digits_wider_than_a_digit_are_read_as_two(mnist, monkeypatch):
    from digitrec import predict

    shipped = Predictor(REPO / "src" / "digitrec" / "pretrained" / "model.tflite")
    rng = np.random.default_rng(3)
    pairs = [rng.choice(len(mnist.x_test), 2, replace=False) for _ in range(40)]
    images = [_touching_pair(mnist.x_test[i, ..., 0], mnist.x_test[j, ..., 0]) for i, j in pairs]
    labels = [f"{mnist.y_test[i]}{mnist.y_test[j]}" for i, j in pairs]

    def exact() -> int:
        return sum(shipped.predict_number(im).number == label for im, label in zip(images, labels))

    with_width = exact()
    monkeypatch.setattr(predict, "WIDE_PENALTY", 0.0)
    without_width = exact()
    assert with_width >= 25 and with_width >= without_width + 4  # 28 and 22 of 40 when written


def test_a_model_for_other_images_is_refused(tmp_path):
    from digitrec.models import build_model

    with pytest.raises(DigitrecError, match="28x28x1"):
        Predictor(build_model("seed_cnn", (32, 32, 3), 10))


def test_files_and_folders_with_bad_ones_among_them(predictor, tmp_path):
    draw_digit("7").save(tmp_path / "seven.png")
    sub = tmp_path / "more"
    sub.mkdir()
    draw_digit("0").save(sub / "zero.jpg")
    (sub / "notes.png").write_text("not an image")
    (tmp_path / "readme.txt").write_text("ignored: not an image suffix")
    (tmp_path / "empty").mkdir()
    files, problems = expand_inputs([tmp_path, tmp_path / "missing.png", tmp_path / "empty"])
    assert [p.name for p in files] == ["notes.png", "zero.jpg", "seven.png"]
    assert [p.error.split(": ", 1)[1] for p in problems] == ["no such file", "folder holds no image files"]
    results = list(predictor.predict_files(files, batch_size=2))
    assert isinstance(results[0], Failure) and "not an image" in results[0].error
    assert [r.best_guess for r in results[1:]] == [0, 7]


# ---------------------------------------------------------------- the command line


def test_cli_random_mode(good_run, tmp_path):
    grid = tmp_path / "grid.png"
    proc = run_cli("predict", "--model", str(good_run.run_dir), "--random", "12", "--seed", "3", "--grid", str(grid))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 13 and lines[-1].startswith("accuracy ") and "true" in lines[0] and "predicted" in lines[0]
    assert grid.read_bytes()[:4] == b"\x89PNG"
    again = run_cli(
        "predict",
        "--model",
        str(good_run.run_dir),
        "--random",
        "12",
        "--seed",
        "3",
        "--json",
        "--grid",
        str(tmp_path / "g2.png"),
    )
    result = json.loads(again.stdout)
    assert result["count"] == 12 and [p["index"] for p in result["predictions"]] == [
        int(line.split()[1].lstrip("#")) for line in lines[:-1]
    ]


def test_cli_images_json_csv_and_preprocessed(good_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    draw_digit("1", size=(200, 260)).save(folder / "one.png")
    draw_digit("7").convert("RGB").save(folder / "seven.jpg")
    (folder / "text.png").write_text("hello")
    buf = io.BytesIO()
    draw_digit("0").save(buf, format="PNG")
    (folder / "cut.png").write_bytes(buf.getvalue()[:200])
    out_csv, pre_dir = tmp_path / "answers.csv", tmp_path / "seen"
    steps_dir = tmp_path / "steps"
    proc = run_cli(
        "predict",
        "--model",
        str(good_run.run_dir),
        str(folder),
        "--json",
        "--csv",
        str(out_csv),
        "--save-preprocessed",
        str(pre_dir),
        "--show-steps",
        str(steps_dir),
    )
    assert proc.returncode == 1  # two inputs could not be read; the others are still answered
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert len(errors) == 2 and any("text.png" in e for e in errors) and any("cut.png" in e for e in errors)
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    answered = {Path(o["file"]).name: o for o in objects if "error" not in o}
    assert set(answered) == {"one.png", "seven.jpg"} and answered["one.png"]["digit"] == 1
    assert len(answered["seven.jpg"]["probabilities"]) == 10
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4 and {r["file"].rsplit("/", 1)[-1] for r in rows if r["error"]} == {"text.png", "cut.png"}
    saved = sorted(p.name for p in pre_dir.iterdir())
    assert saved == ["one.png", "seven.png"]
    assert Image.open(pre_dir / "one.png").size == (28, 28)
    assert sorted(p.name for p in steps_dir.iterdir()) == ["one-steps.png", "seven-steps.png"]


def test_cli_number_mode(good_run, tmp_path):
    row = Image.new("L", (700, 260), 235)
    for k, d in enumerate("170"):
        row.paste(draw_digit(d, size=(200, 240)), (20 + 215 * k, 10))
    row.save(tmp_path / "number.png")
    proc = run_cli("predict", "--model", str(good_run.run_dir), "--number", "--json", str(tmp_path / "number.png"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["digits"]) == 3 and result["number"] in ("170", None)
    assert all(len(d["probabilities"]) == 10 for d in result["digits"])


def test_cli_refuses_bad_input_in_one_line(good_run, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("predict", "--model", str(good_run.run_dir), str(tmp_path / "empty"))
    assert proc.returncode == 1 and "holds no image files" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("predict", "--model", str(good_run.run_dir))
    assert proc.returncode == 1 and "give image files" in proc.stderr
    proc = run_cli("predict", "--model", str(tmp_path / "nope.keras"), "--random", "3")
    assert proc.returncode == 1 and "no model at" in proc.stderr


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=3000),
            st.tuples(
                st.integers(1, 90),
                st.integers(1, 90),
                st.sampled_from(["L", "RGB", "RGBA", "P"]),
                st.sampled_from(["PNG", "GIF", "BMP", "TIFF"]),
                st.integers(0, 2**31),
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_property_cli_never_crashes_on_any_files(good_run, tmp_path_factory, items):
    folder = tmp_path_factory.mktemp("fuzz")
    for k, item in enumerate(items):
        if isinstance(item, bytes):
            (folder / f"{k}.png").write_bytes(item)
        else:
            w, h, mode, fmt, seed = item
            pixels = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(folder / f"{k}.{fmt.lower()}", format=fmt)
    proc = run_cli("predict", "--model", str(good_run.run_dir), "--json", str(folder))
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objects) == len(items)
    for o in objects:
        assert "error" in o or (len(o["probabilities"]) == 10 and (o["digit"] is None) == ("reason" in o))


def test_the_shipped_model_loads_and_is_right(mnist):
    from digitrec.store import PRETRAINED

    from conftest import need

    need(PRETRAINED.is_file(), "the shipped model (make pretrained)")
    meta = json.loads((PRETRAINED.parent / "metadata.json").read_text())
    assert meta["command"].startswith("digitrec train") and meta["test_metrics"]["accuracy"] > 0.99
    shipped = Predictor(PRETRAINED)
    probs = shipped.predict_arrays(mnist.x_test[:40].astype(np.float32) / 255.0)
    assert (probs.argmax(axis=1) == mnist.y_test[:40]).sum() >= 39
    assert shipped.predict_image(draw_digit("7")).digit == 7


def test_the_litert_path_agrees_with_keras(tiny_run, mnist, tmp_path):
    from digitrec.export import export_model

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


def _predict_a_seven_in_a_fresh_process(tmp_path, runs_root):
    """`digitrec predict seven.png --json` in a new interpreter: its answer, whether TensorFlow
    was imported and the exit code ("False 0"), and the process."""
    import subprocess

    draw_digit("7").save(tmp_path / "seven.png")
    code = (
        "import sys; from digitrec.cli import main; "
        f"code = main(['predict', {str(tmp_path / 'seven.png')!r}, '--runs-root', {str(runs_root)!r}, '--json']); "
        "print('tensorflow' in sys.modules, code)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[0]), lines[-1], proc


def test_predicting_with_the_shipped_model_never_imports_tensorflow(tmp_path):
    from digitrec.store import PRETRAINED

    from conftest import need

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


def test_an_older_run_without_a_litert_file_answers_with_keras_and_export_adds_it(tiny_run, tmp_path):
    import shutil

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


def test_the_litert_model_answers_from_many_threads_at_once(mnist):
    """The web service calls the model from a thread pool: one interpreter, many threads. Batch
    sizes alternate, so an unguarded call would resize the tensors under another's feet."""
    from concurrent.futures import ThreadPoolExecutor

    from digitrec.runtime import LiteRTModel
    from digitrec.store import PRETRAINED

    from conftest import need

    need(PRETRAINED.with_suffix(".tflite").is_file(), "the shipped LiteRT model (make pretrained)")
    model = LiteRTModel(PRETRAINED.with_suffix(".tflite"))
    x = mnist.x_test[:24].astype(np.float32) / 255.0
    batches = [x[i : i + (1 + i % 3)] for i in range(0, 20)]
    expected = [model.predict(b) for b in batches]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            got = list(pool.map(model.predict, batches))
            assert all(np.allclose(g, e, atol=1e-6) for g, e in zip(got, expected))
