"""shape: pieces, their selection, stroke widths and loops, on small exact masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitrec.reading import shape


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
        assert shape.stroke_width(mask) == _exact_stroke_width(mask)


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
        pieces = shape.Pieces.of(mask, connectivity=connectivity)
        got = sorted((pieces.box(i), int(pieces.sizes[i - 1])) for i in range(1, pieces.count + 1))
        assert pieces.count == count and got == expected
        sizes_only = shape.Pieces.of(mask, connectivity=connectivity, boxes=False)
        assert sorted(sizes_only.sizes.tolist()) == sorted(size for _, size in expected)


def test_select_gives_the_mask_of_the_pieces_named():
    """Few pieces are picked by comparisons, more by a lookup: the same mask either way, none for no ids."""
    rng = np.random.default_rng(2)
    mask = rng.random((40, 50)) > 0.8
    pieces = shape.Pieces.of(mask)
    assert pieces.count > 5
    for ids in ([], [3], [2, 5], [1, 4, pieces.count], list(range(1, pieces.count + 1))):
        expected = np.isin(pieces.labels, ids) & (pieces.labels > 0)
        got = pieces.select(ids)
        assert got.dtype == bool and np.array_equal(got, expected), ids
    assert np.array_equal(pieces.select(np.array([4, 2])), (pieces.labels == 2) | (pieces.labels == 4))


def test_a_loop_is_a_loop_and_a_gap_where_strokes_cross_is_not():
    """An 8 has two loops; a blurred one, blown up, can enclose a third gap at its waist, under
    MIN_HOLE_SHARE of its box, which must not make it "a drawing of three loops"."""
    eight = np.ones((100, 60), bool)
    eight[10:40, 15:45] = False  # the upper loop
    eight[55:90, 15:45] = False  # the lower loop
    assert shape.count_holes(eight) == 2
    side = int(np.sqrt(0.6 * shape.MIN_HOLE_SHARE * 102 * 62))  # the box as counted: one pixel of margin
    eight[45 : 45 + side, 28 : 28 + side] = False
    assert shape.count_holes(eight) == 2
    side = int(np.ceil(np.sqrt(1.2 * shape.MIN_HOLE_SHARE * 102 * 62)))
    eight[45 : 45 + side, 28 : 28 + side] = False
    assert shape.count_holes(eight) == 3
    assert shape.count_holes(np.zeros((5, 5), bool)) == 0


@pytest.mark.parametrize("side", [(0, slice(None)), (-1, slice(None)), (slice(None), 0), (slice(None), -1)])
def test_at_border_sees_each_side_and_only_the_border(side):
    mask = np.zeros((9, 7), bool)
    mask[1:-1, 1:-1] = True  # all but the border
    assert not shape.at_border(mask)
    mask[side] = True
    assert shape.at_border(mask)
    faint = np.zeros((9, 7), np.float32)
    faint[side] = 0.1
    assert shape.at_border(faint, 0.05) and not shape.at_border(faint, 0.1)  # over it, not at it
