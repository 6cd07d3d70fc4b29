"""negatives: non-digit images drawn here, deterministic, never a digit-like glyph; and a model
trained with them (`open_set`) turns away more letters than the same model without."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import DigitrecError
from digitrec.training import negatives, strokes
from digitrec.training.negatives import DIGIT_LIKE, FAMILIES, generate
from tests.support.helpers import TUTORIAL, need


def test_the_same_seed_draws_the_same_images_and_families_take_turns():
    first, again, other = generate(32, seed=3), generate(32, seed=3), generate(32, seed=4)
    assert first.images.shape == (32, 28, 28) and first.images.dtype == np.uint8
    assert np.array_equal(first.images, again.images) and first.glyphs == again.glyphs
    assert not np.array_equal(first.images, other.images)
    assert first.families[: len(FAMILIES)] == list(FAMILIES)
    assert all(image.max() > 100 for image in first.images)  # ink in every one


def test_no_glyph_written_like_a_digit_is_ever_a_negative():
    drawn = generate(400, seed=1)
    assert not set(drawn.glyphs) & DIGIT_LIKE
    for alphabet in (negatives.LATIN, negatives.GREEK, negatives.CYRILLIC, negatives.SYMBOLS):
        assert not set(alphabet) & DIGIT_LIKE
    kanjivg = negatives._kanjivg_characters()
    assert len(kanjivg["kana"]) > 100 and len(kanjivg["kanji"]) > 5000
    assert not set(kanjivg["kana"] + kanjivg["kanji"]) & DIGIT_LIKE  # no 0-9, no 一二三, no 〇


def test_letters_drawn_from_strokes_stay_in_their_box_and_are_capitals_and_small_letters():
    for table in (strokes.GREEK_STROKES, strokes.CYRILLIC_STROKES):
        points = [point for strokes in table.values() for stroke in strokes for point in stroke]
        assert all(-0.01 <= v <= 1.01 for point in points for v in point)
        assert any(c.isupper() for c in table) and any(c.islower() for c in table)
    drawn = negatives.generate(60, seed=2, families=("greek", "cyrillic"))
    assert {g for g in drawn.glyphs if g.islower()} and {g for g in drawn.glyphs if g.isupper()}


def test_notes_and_filled_hearts_are_drawn_with_filled_ink_and_kana_vary_per_stroke():
    rng = np.random.default_rng(0)
    outline, filled = strokes.shape("heart", 120, 6, rng), strokes.shape("filled heart", 120, 6, rng)
    assert filled.sum() > 2 * outline.sum()  # the inside is ink, not only the edge
    notes = [strokes.shape("note", 120, 6, np.random.default_rng(seed)) for seed in range(6)]
    assert all(0.03 < note.mean() < 0.3 for note in notes)
    assert len({note.tobytes() for note in notes}) == 6
    lines = negatives._svg_strokes("ク")
    varied = strokes.vary(lines, 109, np.random.default_rng(1))
    assert [len(s) for s in varied] == [len(s) for s in lines] and varied != lines
    moved = [np.abs(np.subtract(a, b)).max() for a, b in zip(varied, lines)]
    assert all(0 < m < 0.25 * 109 for m in moved)  # each stroke moves a little, none far


def test_svg_strokes_follow_their_path():
    points = strokes.path_points("M10,20c0,10,10,10,10,0s10,-10,10,0L50,50")
    assert points[0] == (10.0, 20.0) and points[-1] == (50.0, 50.0)
    assert any(abs(x - 20.0) < 1e-6 and abs(y - 20.0) < 1e-6 for x, y in points)  # the first curve's end
    assert max(y for _, y in points) > 25  # the curve bulges between its ends


def test_pens_draw_strokes_of_their_own_width():
    down, across = [[(50.0, 10.0), (50.0, 90.0)]], [[(10.0, 50.0), (90.0, 50.0)]]

    def width(image, axis):  # the stroke's ink across it, at its middle
        return int((image[50, :] if axis == "row" else image[:, 50]).astype(bool).sum())

    pen = {name: strokes.draw_strokes(down, 100, 100, 8, name) for name in strokes.PENS}
    assert abs(width(pen["pen"], "row") - 8) <= 1  # a ball point: the width asked for
    broad_down = width(pen["broad"], "row")
    broad_across = width(strokes.draw_strokes(across, 100, 100, 8, "broad"), "column")
    assert broad_down > 2 * broad_across  # a broad nib: thick going down, thin going across
    brush = pen["brush"]
    assert int(brush[12, :].astype(bool).sum()) < width(brush, "row") / 2  # thin at the start, full in the middle


def test_training_mix_draws_kana_most():
    mix = negatives.TRAINING_MIX
    assert set(mix) == set(FAMILIES) and mix.count("kana") == 3 and mix.count("latin") == 2


def test_training_with_negatives_turns_away_more_letters(tmp_path, mnist):
    need(bool(negatives.fonts()), "the handwriting font packages (Makefile FONT_PACKAGES)")
    from digitrec.reading.predictor import Predictor
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    letters = generate(120, seed=99, families=("latin", "kana", "symbol")).images / 255.0
    digits, labels = mnist.x_test[:300, ..., 0] / 255.0, mnist.y_test[:300]
    unsure, right = {}, {}
    for open_set in (0.0, 0.5):  # a small run: 1,350 digits, 3 epochs; then with 675 non-digits as well
        settings = {**TUTORIAL, "epochs": 3, "limit_train": 1500, "limit_test": 200, "seed": 5, "open_set": open_set}
        config = resolve_config("seed", settings)
        run = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
        assert run.metadata["dataset"]["negative_samples"] == round(open_set * 1350)
        predictor = Predictor(run.run_dir)
        unsure[open_set] = float((predictor.predict_arrays(letters).max(axis=1) < 0.5).mean())
        right[open_set] = float((predictor.predict_arrays(digits).argmax(axis=1) == labels).mean())
    assert unsure[0.5] > unsure[0.0] + 0.2, unsure  # measured: 38 % and 82 % of the letters below 0.5
    assert right[0.5] >= right[0.0] - 0.03, right  # and the digits read as well (90 % and 92 %)


def test_open_set_is_a_share_between_0_and_1():
    from digitrec.errors import OptionError
    from digitrec.training.config import resolve_config

    with pytest.raises(OptionError, match="open_set must be between 0 and 1") as raised:
        resolve_config("seed", {"open_set": 1.5}).validated()
    assert raised.value.option == "open_set"


def test_a_new_version_of_the_non_digits_removes_the_older_ones(monkeypatch, tmp_path):
    monkeypatch.setattr(negatives, "fonts", lambda: [])  # quick: no font to draw from
    negatives.training_set(16, 0, tmp_path, log=lambda m: None)
    monkeypatch.setattr(negatives, "VERSION", negatives.VERSION + 1)
    negatives.training_set(16, 0, tmp_path, log=lambda m: None)
    assert [p.name for p in tmp_path.glob("negatives-*.npz")] == [f"negatives-v{negatives.VERSION}-16-0-nofonts.npz"]


def test_without_the_fonts_training_still_gets_non_digits(monkeypatch, tmp_path):
    monkeypatch.setattr(negatives, "fonts", lambda: [])  # a user who is not root: no Debian fonts
    said: list[str] = []
    images = negatives.training_set(16, 0, tmp_path, log=said.append)
    assert images.shape == (16, 28, 28) and "without letters and symbols" in said[0]
    assert (tmp_path / f"negatives-v{negatives.VERSION}-16-0-nofonts.npz").is_file()
    assert np.array_equal(negatives.training_set(16, 0, tmp_path, log=said.append), images)  # cached
    with pytest.raises(DigitrecError, match="no handwriting fonts"):
        generate(4, families=("latin",))
