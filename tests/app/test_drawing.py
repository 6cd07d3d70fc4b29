"""drawing: strokes rendered with round pens, undo, clear, the eraser, an opened image as a base."""

from __future__ import annotations

import numpy as np

from digitrec.app.window import BRUSHES, CANVAS, Drawing
from digitrec.reading import preprocess


def test_strokes_are_drawn_with_round_pens_into_an_image():
    d = Drawing()
    assert d.empty and np.asarray(d.image).min() == 255
    d.begin(140, 40, 16)
    for y in range(40, 241, 10):
        d.extend(140, y)
    pixels = np.asarray(d.image)
    assert pixels[140, 140] == 0 and pixels[140, 100] == 255  # on the stroke, beside it
    assert pixels[40 - 7, 140] == 0  # the round cap reaches above the first point
    assert not d.empty and d.image.size == (CANVAS, CANVAS)


def test_a_drawn_one_becomes_a_vertical_bar_for_the_model():
    d = Drawing()
    d.begin(150, 30, BRUSHES[2])
    for y in range(30, 251, 5):
        d.extend(150, y)
    array = preprocess.to_mnist_array(d.image)
    cols = np.flatnonzero(array.max(axis=0) > 0.5)
    rows = np.flatnonzero(array.max(axis=1) > 0.5)
    assert rows[-1] - rows[0] >= 18 and cols[-1] - cols[0] <= 6  # tall and thin, as MNIST's 1s


def test_undo_and_clear_and_eraser():
    d = Drawing()
    d.begin(50, 50, 10)
    d.extend(200, 50)
    first = np.asarray(d.image).copy()
    d.begin(50, 150, 10)
    d.extend(200, 150)
    assert not np.array_equal(np.asarray(d.image), first)
    assert d.undo() and np.array_equal(np.asarray(d.image), first)
    d.begin(125, 50, 30, erase=True)  # rub out the middle of the first stroke
    assert np.asarray(d.image)[50, 125] == 255
    d.clear()
    assert d.empty and np.asarray(d.image).min() == 255 and not d.undo()


def test_an_opened_image_is_a_base_that_undo_keeps(tmp_path):
    from tests.support.helpers import draw_digit

    d = Drawing()
    d.load(draw_digit("7"))
    base = np.asarray(d.image).copy()
    assert not d.empty and base.min() < 50
    d.begin(10, 10, 10)
    d.undo()
    assert np.array_equal(np.asarray(d.image), base)
