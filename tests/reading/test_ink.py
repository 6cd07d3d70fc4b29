"""ink: pieces, stroke widths and the thin-stroke rule, on small exact masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitrec.reading import ink
from digitrec.reading.preprocess import to_mnist_array


def _exact_stroke_width(mask: np.ndarray) -> float:
    """The stroke width by brute force: squared distances to the nearest background pixel."""
    zy, zx = np.nonzero(~mask)
    yy, xx = np.nonzero(mask)
    squared = np.zeros(mask.shape)
    squared[yy, xx] = ((yy[:, None] - zy[None]) ** 2 + (xx[:, None] - zx[None]) ** 2).min(axis=1)
    pad = np.pad(squared, 1, constant_values=-1)
    around = np.max(
        [pad[1 + dy : pad.shape[0] - 1 + dy, 1 + dx : pad.shape[1] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
        axis=0,
    )
    return float(2 * np.median(np.sqrt(squared[(squared >= around) & mask])))


def test_the_stroke_width_is_exact_and_the_same_every_time():
    """OpenCV's exact distance transform varies in its last bits from call to call
    (opencv/opencv#24082), enough to change which pixels tie for the stroke's ridge: the width
    that decides the thickening must be the exact one, every time."""
    from PIL import ImageDraw

    rng = np.random.default_rng(0)
    for _ in range(20):
        image = Image.new("L", (90, 90), 0)
        ImageDraw.Draw(image).line(
            [tuple(rng.integers(5, 85, 2).tolist()) for _ in range(4)],
            fill=255,
            width=int(rng.integers(4, 14)),
            joint="curve",
        )
        mask = np.asarray(image) > 0
        assert ink.stroke_width(mask) == _exact_stroke_width(mask)


@pytest.mark.parametrize("connectivity", [8, 4])
def test_pieces_have_the_boxes_and_sizes_scipy_finds(connectivity):
    """The OpenCV labelling with boxes and sizes taken from the labelled pixels agrees with
    scipy.ndimage, which the preprocessing used before, piece by piece."""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    structure = np.ones((3, 3)) if connectivity == 8 else None  # scipy's default is 4-connected
    for _ in range(10):
        mask = ndimage.binary_opening(rng.random((60, 80)) > 0.55) | (rng.random((60, 80)) > 0.97)
        labels, count = ndimage.label(mask, structure=structure)
        expected = sorted(
            (box, int((labels[box] == i + 1).sum())) for i, box in enumerate(ndimage.find_objects(labels))
        )
        pieces = ink.Pieces.of(mask, connectivity=connectivity)
        got = sorted((pieces.box(i), int(pieces.sizes[i - 1])) for i in range(1, pieces.count + 1))
        assert pieces.count == count and got == expected
        sizes_only = ink.Pieces.of(mask, connectivity=connectivity, boxes=False)
        assert sorted(sizes_only.sizes.tolist()) == sorted(size for _, size in expected)


def test_a_straight_thin_one_is_thickened_like_any_stroke():
    """A ruler-straight 1 fills its own box, so there is no edge inside the box to measure the
    stroke from: it was read as tens of pixels wide and left hair-thin in the 28x28 image."""
    page = Image.new("L", (400, 400), 235)
    page.paste(0, (200, 50, 203, 350))  # 3 pixels wide, 300 tall
    a = to_mnist_array(page)
    assert ink.stroke_width(np.ones((300, 3), bool)) == 3.0
    assert (a.max(axis=0) > 0.5).sum() >= 2  # at least two columns of ink, as MNIST's 1s have
    assert (a.max(axis=1) > 0.5).sum() >= 19  # and the full height of the 20x20 box


def test_a_loop_is_a_loop_and_a_gap_where_strokes_cross_is_not():
    """An 8 has two loops; a blurred one, blown up, can enclose a third gap at its waist, under
    MIN_HOLE_SHARE of its box, which must not make it "a drawing of three loops"."""
    eight = np.ones((100, 60), bool)
    eight[10:40, 15:45] = False  # the upper loop
    eight[55:90, 15:45] = False  # the lower loop
    assert ink.count_holes(eight) == 2
    side = int(np.sqrt(0.6 * ink.MIN_HOLE_SHARE * 102 * 62))  # the box as counted: one pixel of margin
    eight[45 : 45 + side, 28 : 28 + side] = False
    assert ink.count_holes(eight) == 2
    side = int(np.ceil(np.sqrt(1.2 * ink.MIN_HOLE_SHARE * 102 * 62)))
    eight[45 : 45 + side, 28 : 28 + side] = False
    assert ink.count_holes(eight) == 3
    assert ink.count_holes(np.zeros((5, 5), bool)) == 0


def _plain_otsu(values: np.ndarray, bins: int = 64) -> float:
    """Otsu's threshold the plain way: a 64-bin histogram of [0, 1] (1 in the top bin), the bin
    centre that maximises the variance between the two classes."""
    hist = np.bincount(np.minimum((values.ravel() * bins).astype(np.int64), bins - 1), minlength=bins)
    centers = (np.arange(bins) + 0.5) / bins
    weight, mean = np.cumsum(hist), np.cumsum(hist * centers)
    between = (mean[-1] * weight / weight[-1] - mean) ** 2 / np.maximum(weight * (weight[-1] - weight), 1e-12)
    return float(centers[int(np.argmax(between[:-1]))])


@pytest.mark.parametrize("paper", [0.0, 0.5, 0.93, 0.999])
def test_otsu_counts_the_paper_and_the_ink_as_a_plain_histogram_does(paper):
    """The paper (0 after the background's removal) is counted apart from the ink: same threshold."""
    rng = np.random.default_rng(int(paper * 1000))
    values = rng.beta(2, 2, (120, 90)).astype(np.float32)
    values[rng.random(values.shape) < paper] = 0.0
    values[0, :3] = 1.0  # exactly 1 counts in the top bin
    assert ink._otsu(values) == _plain_otsu(values)
    assert ink._otsu(np.zeros((5, 5), np.float32)) == _plain_otsu(np.zeros((5, 5), np.float32))
