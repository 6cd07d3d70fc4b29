"""Predictor: arrays, images, numbers, "no digit", files; and `digitrec predict` as a user runs it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from digitrec.cli.batch import expand_inputs
from digitrec.errors import DigitrecError
from digitrec.reading.answers import Failure, Prediction
from digitrec.reading.predictor import Predictor
from tests.support.helpers import REPO, draw_digit
from tests.support.realistic import digit_sample, non_digit_sample, number_sample


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
    blank = predictor.predict_image(non_digit_sample("blank", rng, {}).encoded)
    assert blank.digit is None and "no ink" in blank.reason
    noise = predictor.predict_image(rng.integers(0, 256, (200, 200), dtype=np.uint8))
    assert noise.digit is None and ("noise" in noise.reason or "uncertain" in noise.reason)


def test_uncertain_below_the_threshold(good_run):
    """Probabilities on both sides of the threshold: just under it is "uncertain", at it a digit."""
    strict = Predictor(good_run.run_dir, min_confidence=0.8)
    under, at = (strict.answer(np.array([p] + [(1 - p) / 9] * 9)) for p in (0.79, 0.8))
    assert under.digit is None and under.reason.startswith("uncertain") and under.to_dict()["no_digit"] == "uncertain"
    assert at.digit == 0 and at.reason is None


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
    from digitrec.reading import rules

    shipped = Predictor(REPO / "src" / "digitrec" / "pretrained" / "model.tflite")
    rng = np.random.default_rng(3)
    pairs = [rng.choice(len(mnist.x_test), 2, replace=False) for _ in range(120)]
    images = [_touching_pair(mnist.x_test[i, ..., 0], mnist.x_test[j, ..., 0]) for i, j in pairs]
    labels = [f"{mnist.y_test[i]}{mnist.y_test[j]}" for i, j in pairs]

    def exact() -> int:
        return sum(shipped.predict_number(im).number == label for im, label in zip(images, labels))

    with_width = exact()
    monkeypatch.setattr(rules, "WIDE_PENALTY", 0.0)
    without_width = exact()
    # 96 and 94 of 120 with the shipped model and with the one before it (on the first 40 pairs:
    # 34 and 33, 33 and 31); a model trained without non-digits read 28 and 22 of those 40
    assert with_width >= 90 and with_width >= without_width + 2


def test_a_model_for_other_images_is_refused(tmp_path):
    from digitrec.training.architectures import build_model

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


def test_the_shipped_model_loads_and_is_right(mnist):
    from digitrec.store import PRETRAINED
    from tests.support.helpers import need

    need(PRETRAINED.is_file(), "the shipped model (make pretrained)")
    meta = json.loads((PRETRAINED.parent / "metadata.json").read_text())
    assert meta["command"].startswith("digitrec train") and meta["test_metrics"]["accuracy"] > 0.99
    shipped = Predictor(PRETRAINED)
    probs = shipped.predict_arrays(mnist.x_test[:40].astype(np.float32) / 255.0)
    assert (probs.argmax(axis=1) == mnist.y_test[:40]).sum() >= 39
    assert shipped.predict_image(draw_digit("7")).digit == 7


def test_a_run_answers_with_the_threshold_it_records(good_run, tmp_path):
    import shutil
    from pathlib import Path

    from digitrec.files import read_json, write_json
    from digitrec.reading.rules import MIN_CONFIDENCE, OPEN_SET_MIN_CONFIDENCE

    assert Predictor(good_run.run_dir).min_confidence == MIN_CONFIDENCE  # trained without non-digits
    copy = Path(shutil.copytree(good_run.run_dir, tmp_path / "open-set-run"))
    metadata = read_json(copy / "metadata.json")
    write_json(copy / "metadata.json", {**metadata, "min_confidence": OPEN_SET_MIN_CONFIDENCE})
    assert Predictor(copy).min_confidence == OPEN_SET_MIN_CONFIDENCE
    assert Predictor(copy, min_confidence=0.8).min_confidence == 0.8  # --min-confidence still wins
    strict = Predictor(copy).answer(np.array([0.6] + [0.4 / 9] * 9))
    assert strict.digit == 0  # 60 % is enough for such a model, not for the default 90 %
    write_json(copy / "metadata.json", {**metadata, "min_confidence": 0.5, "open_set": 0.1})
    letter = Predictor(copy).answer(np.full(10, 0.1))
    assert letter.digit is None and letter.reason.startswith("not a digit: best guess")
    out = letter.to_dict()
    assert out["no_digit"] == "not a digit" and out["not_digit_score"] == pytest.approx(0.9)
    sure = Predictor(copy).answer(np.array([0.96] + [0.04 / 9] * 9)).to_dict()
    assert "no_digit" not in sure and sure["not_digit_score"] == pytest.approx(0.04)
    assert "not_digit_score" not in Predictor(good_run.run_dir).answer(np.full(10, 0.1)).to_dict()


def test_the_shipped_model_answers_at_the_threshold_rules_keep_for_it():
    """One home for the shipped thresholds: scripts/make_pretrained.py writes rules'
    SHIPPED_MIN_CONFIDENCE and SHIPPED_MIN_PAIR_CONFIDENCE into the shipped metadata, and the
    Predictor answers with them."""
    from digitrec.reading.rules import MIN_CONFIDENCE, SHIPPED_MIN_CONFIDENCE, SHIPPED_MIN_PAIR_CONFIDENCE
    from digitrec.store import PRETRAINED

    assert SHIPPED_MIN_CONFIDENCE != MIN_CONFIDENCE
    shipped = Predictor(PRETRAINED.with_suffix(".tflite"))
    assert shipped.min_confidence == SHIPPED_MIN_CONFIDENCE
    assert shipped.min_pair_confidence == SHIPPED_MIN_PAIR_CONFIDENCE == 0.65


def test_a_model_that_answers_by_its_two_likeliest_digits(good_run, tmp_path):
    """A model recording `min_pair_confidence` answers a digit it is torn between two readings of,
    and "no digit" where its doubt is spread wider; --min-confidence goes back to the best guess."""
    import shutil
    from pathlib import Path

    from digitrec.files import read_json, write_json

    copy = Path(shutil.copytree(good_run.run_dir, tmp_path / "pair-run"))
    metadata = read_json(copy / "metadata.json")
    write_json(copy / "metadata.json", {**metadata, "min_confidence": 0.7, "min_pair_confidence": 0.8, "open_set": 0.1})
    assert Predictor(good_run.run_dir).min_pair_confidence is None  # a run records none
    pair = Predictor(copy)
    torn = pair.answer(np.array([0.0, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0, 0.40, 0.15, 0.0]))
    assert (torn.digit, torn.confidence) == (1, pytest.approx(0.45))
    assert torn.to_dict()["not_digit_score"] == pytest.approx(0.15)  # 1 - the two together
    spread = pair.answer(np.array([0.0, 0.0, 0.0, 0.05, 0.55, 0.05, 0.05, 0.1, 0.0, 0.2]))
    assert spread.digit is None and spread.no_digit == "not a digit"
    assert spread.reason == "not a digit: best guesses 4 and 9 at 75% together (below 80%)"
    assert spread.guess == 4 and spread.to_dict()["not_digit_score"] == pytest.approx(0.25)
    # A threshold the user gives is on the best guess alone, in the CLI and in --jobs' processes.
    own = Predictor(copy, min_confidence=0.4)
    assert own.min_pair_confidence is None and own.answer(np.array([0.0] * 4 + [0.6] + [0.0] * 4 + [0.4])).digit == 4
    assert own.answer(torn.probabilities).digit == 1
    assert Predictor(copy, min_confidence=0.7).answer(np.array(torn.probabilities)).digit is None
    assert Predictor(copy, min_confidence=0.7, min_pair_confidence=0.8).answer(np.array(torn.probabilities)).digit == 1
    # A number's digits keep the best-guess rule at 50 %.
    assert pair.answer(np.array(torn.probabilities), min_confidence=0.5).digit is None


def test_the_processes_of_predict_jobs_answer_by_the_same_rule(monkeypatch):
    from digitrec.reading import parallel
    from digitrec.store import PRETRAINED

    monkeypatch.setenv("DIGITREC_LITERT_THREADS", "1")
    monkeypatch.setattr(parallel, "_predictor", None)
    parallel._load(str(PRETRAINED.with_suffix(".tflite")), 0.7, 0.8, None)
    assert (parallel._predictor.min_confidence, parallel._predictor.min_pair_confidence) == (0.7, 0.8)
    parallel._load(str(PRETRAINED.with_suffix(".tflite")), 0.9, None, None)
    assert (parallel._predictor.min_confidence, parallel._predictor.min_pair_confidence) == (0.9, None)


def test_predict_jobs_shares_the_files_between_the_caller_and_its_helpers(tmp_path):
    """With two processes the caller reads too: the helper is handed the first chunks and the
    caller takes the next one while it starts; the answers are one process's, in order."""
    from digitrec.reading import parallel
    from digitrec.store import PRETRAINED

    chunks = parallel.QUEUED + 1  # the helper's queue full, and one chunk more for the caller
    digits = "1704" * (chunks * parallel.CHUNK // 4)
    paths = []
    for k, d in enumerate(digits):
        draw_digit(d, size=(100 + k, 140)).save(path := tmp_path / f"{k:03d}.png")
        paths.append(str(path))
    predictor = Predictor(PRETRAINED.with_suffix(".tflite"))
    alone = [a.to_dict() for a in predictor.predict_files(paths)]
    read_here: list[list[str]] = []
    own = predictor.predict_files

    def recording(chunk, **kwargs):
        read_here.append(list(chunk))
        return own(chunk, **kwargs)

    predictor.predict_files = recording
    shared = [a.to_dict() for a in parallel.predict_files(predictor, paths, jobs=2)]
    assert shared == alone and [a["file"] for a in shared] == paths
    assert read_here == [paths[-parallel.CHUNK :]]  # the helper read all the others


def test_each_no_digit_kind_comes_with_its_own_reason(predictor):
    """The kind is made with the reason, by the rule that decided, never parsed back from it."""
    from digitrec.reading import rules

    blank = predictor.predict_image(np.full((60, 60), 255, np.uint8))
    assert (blank.no_digit, blank.reason) == (rules.NO_INK, "no ink found (a blank or too faint image)")
    unsure = predictor.answer(np.array([0.05] * 7 + [0.55] + [0.05] * 2), min_confidence=0.6)
    assert unsure.no_digit == rules.UNCERTAIN and unsure.reason == "uncertain: best guess 7 at 55% (below 60%)"
    # Doubt keeps the best guess, in every front end's words; the ink's verdicts have none.
    assert (unsure.guess, unsure.guess_words(), unsure.to_dict()["best_guess"]) == (7, "probably a 7 (55%)", 7)
    assert blank.guess is None and "best_guess" not in blank.to_dict()
    sure = predictor.answer(np.array([0.0] * 9 + [1.0]), min_confidence=0.5)
    assert (sure.digit, sure.no_digit, sure.reason) == (9, None, None)
    with pytest.raises(ValueError, match="kind and its reason"):
        Prediction(None, 0.1, [0.1] * 10, "a reason without a kind")

    def measures(**changes):
        return SimpleNamespace(**{"array": np.ones((28, 28)), "ink_fraction": 0.1, "components": 1, "holes": 0,
                                  "pieces": 1, "steps": {}, **changes})  # fmt: skip

    busy = rules.judge_ink(measures(ink_fraction=0.6))
    assert busy is not None and busy.kind == rules.SCATTERED and busy.reason.startswith("ink covers 60%")
    loops = rules.judge_ink(measures(holes=3))
    assert loops is not None and loops.kind == rules.NOT_DIGIT_SHAPED
    assert rules.judge_ink(measures(holes=2, pieces=3)) is None
    assert rules.judge_ink(measures(array=np.zeros((28, 28)))) == rules.NO_INK_FOUND  # nothing left after the fit
    # The answer asks the ink rules with the model's confidence in its best guess: three loops are
    # an 8 read surely, a drawing read at 98 %.
    eight = predictor.answer(np.array([0.0] * 8 + [0.9995, 0.0005]), measures(holes=3), min_confidence=0.5)
    assert (eight.digit, eight.no_digit) == (8, None)
    drawing = predictor.answer(np.array([0.0] * 8 + [0.98, 0.02]), measures(holes=3), min_confidence=0.5)
    assert (drawing.digit, drawing.no_digit) == (None, rules.NOT_DIGIT_SHAPED)


def test_a_doubt_says_its_figures_apart_from_the_threshold():
    """The best guess and the threshold are told apart however close: never "at 100% (below 100%)"."""
    from digitrec.reading import rules

    assert rules.judge_confidence(3, 0.45, 0.6, False) == ("uncertain", "uncertain: best guess 3 at 45% (below 60%)")
    close = rules.judge_confidence(7, 0.99996, 1.0, True)
    assert close is not None and close.reason == "not a digit: best guess 7 at 99.996% (below 100.000%)"
    assert rules.judge_confidence(7, 1.0, 1.0, True) is None
