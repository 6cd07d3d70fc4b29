"""restyle: MNIST training digits written with a marker, counted in 8x8 blocks or made a few pixels
tall, then read by the reading path; deterministic, cached, and added to a run by `restyle`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitrec.reading.preprocess import to_mnist_array
from digitrec.reading.shape import stroke_width
from digitrec.training import restyle
from tests.support.helpers import TUTORIAL


def _digits(mnist, count: int) -> np.ndarray:
    return mnist.x_train[:count].reshape(-1, 28, 28)


def test_the_same_seed_restyles_the_same_way_and_each_digit_keeps_its_ink(mnist):
    digits = _digits(mnist, 24)
    first, again, other = restyle.restyle(digits, 3), restyle.restyle(digits, 3), restyle.restyle(digits, 4)
    assert first.shape == (24, 28, 28) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert all(image.max() > 200 for image in first)  # ink, stretched to full strength as the reading path leaves it
    # Still the same digit: each lies closer to its own original than to the average of the others.
    plain = np.stack([to_mnist_array(d) for d in digits])
    scores = np.array([[np.corrcoef(r.ravel(), p.ravel())[0, 1] for p in plain] for r in first / 255.0])
    assert (scores.argmax(axis=1) == np.arange(24)).mean() >= 0.75, scores.argmax(axis=1)


def test_a_blank_image_among_ones_own_digits_stays_blank(mnist):
    """A dataset of one's own may hold an image with no ink: it is no crash, and the rest are restyled."""
    digits = _digits(mnist, 8).copy()
    digits[2] = 0
    out = restyle.restyle(digits, 3)
    assert not out[2].any() and all(out[i].max() > 200 for i in (0, 1, 3, 4, 5, 6, 7))


def test_a_marker_widens_the_strokes_and_blocks_are_coarse(mnist):
    digits = _digits(mnist, 40)
    bold = restyle.restyle(digits, 0, mix=("bold",)) / 255.0
    blocks = restyle.restyle(digits, 0, mix=("blocks",)) / 255.0
    plain = np.stack([to_mnist_array(d) for d in digits])

    def width(arrays):
        return float(np.median([stroke_width(a > 0.5) for a in arrays]))

    assert width(bold) > 1.4 * width(plain), (width(bold), width(plain))

    # 8 blocks over the 20-pixel box: neighbouring pixels agree far more often than in a pen's strokes.
    def step(arrays):
        return float(np.abs(np.diff(arrays, axis=2)).mean())

    assert step(blocks) < step(plain), (step(blocks), step(plain))


def test_the_training_set_is_made_once_per_set_of_digits(mnist, tmp_path):
    said: list[str] = []
    digits = _digits(mnist, 8)
    made = restyle.training_set(digits, 1, tmp_path, log=said.append)
    assert np.array_equal(restyle.training_set(digits, 1, tmp_path, log=said.append), made) and len(said) == 1
    restyle.training_set(_digits(mnist, 9)[1:], 1, tmp_path, log=said.append)  # other digits: made again
    assert len(said) == 2 and len(list(tmp_path.glob(f"restyled-v{restyle.VERSION}-8-1-*.npz"))) == 2


def test_a_new_version_of_the_training_set_removes_the_older_ones(mnist, tmp_path, monkeypatch):
    digits = _digits(mnist, 8)
    restyle.training_set(digits, 1, tmp_path, log=lambda m: None)
    monkeypatch.setattr(restyle, "VERSION", restyle.VERSION + 1)
    restyle.training_set(digits, 1, tmp_path, log=lambda m: None)
    assert [p.name.split("-")[1] for p in tmp_path.glob("restyled-*.npz")] == [f"v{restyle.VERSION}"]


def test_a_run_with_restyle_trains_on_the_restyled_digits_too(tmp_path):
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    said: list[str] = []
    settings = {**TUTORIAL, "epochs": 1, "limit_train": 400, "limit_test": 100, "restyle": 0.25}
    run = train_and_evaluate(
        resolve_config("seed", settings), RunOptions(runs_root=tmp_path, progress=False, log=said.append)
    )
    assert run.metadata["dataset"]["restyled_samples"] == 90  # a quarter of the 360 training digits
    assert any("(and 90 of them restyled)" in line for line in said), said
    assert json.loads((run.run_dir / "config.json").read_text())["restyle"] == 0.25


def test_restyle_is_a_share_between_0_and_1():
    from digitrec.errors import OptionError
    from digitrec.training.config import resolve_config

    with pytest.raises(OptionError, match="restyle must be between 0 and 1"):
        resolve_config("seed", {"restyle": -0.1}).validated()


def test_restyle_is_for_digits():
    from digitrec.errors import OptionError
    from digitrec.training.config import resolve_config
    from digitrec.training.train import _training_arrays

    colour = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(OptionError, match="it is for digits") as raised:
        _training_arrays(
            colour, np.arange(4), resolve_config("seed", {"restyle": 0.5, "open_set": 0.0}), 10, None, print
        )
    assert raised.value.option == "restyle"


def test_the_guide_names_the_cache_files_of_this_version():
    """docs/training.md says where the restyled digits and the non-digits are kept: the names of
    this version's files, not an older one's (each VERSION makes new files)."""
    from pathlib import Path

    from digitrec.training import negatives

    guide = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    assert f"`restyled-v{restyle.VERSION}-<count>" in guide and f"`negatives-v{negatives.VERSION}-<count>" in guide
    assert not any(f"restyled-v{v}-" in guide for v in range(1, restyle.VERSION))
    assert not any(f"negatives-v{v}-" in guide for v in range(1, negatives.VERSION))
