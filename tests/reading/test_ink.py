"""ink: the thin-stroke rule and Otsu's threshold, on small exact images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from digitrec.reading import ink, shape
from digitrec.reading.preprocess import to_mnist_array


def test_a_straight_thin_one_is_thickened_like_any_stroke():
    """A ruler-straight 1 fills its own box, so there is no edge inside the box to measure the
    stroke from: it was read as tens of pixels wide and left hair-thin in the 28x28 image."""
    page = Image.new("L", (400, 400), 235)
    page.paste(0, (200, 50, 203, 350))  # 3 pixels wide, 300 tall
    a = to_mnist_array(page)
    assert shape.stroke_width(np.ones((300, 3), bool)) == 3.0
    assert (a.max(axis=0) > 0.5).sum() >= 2  # at least two columns of ink, as MNIST's 1s have
    assert (a.max(axis=1) > 0.5).sum() >= 19  # and the full height of the 20x20 box


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


def test_the_quick_median_is_numpys():
    """`_median` partitions once where numpy partitions twice for an even count: the same value,
    float32 rounding included, for odd and even counts, ties and single values."""
    rng = np.random.default_rng(3)
    for size in (1, 2, 3, 4, 17, 18, 1000, 1001):
        for values in (rng.random(size), rng.integers(0, 4, size) / 3, rng.integers(0, 256, size) / 255):
            a = values.astype(np.float32)
            assert ink._median(a) == float(np.median(a)), size
    grid = (rng.integers(0, 256, (30, 41)) / 255).astype(np.float32)[:, 1:]  # a view, not contiguous
    assert ink._median(grid) == float(np.median(grid))


@pytest.mark.parametrize("size", [ink.BUCKETED_MEDIAN, ink.BUCKETED_MEDIAN + 1, 13440, 76801])
def test_the_median_of_many_values_picked_by_level_is_numpys(size):
    """From BUCKETED_MEDIAN values on, the middle values are picked within their 8-bit level: the
    same value as numpy's for paper-like values, 8-bit levels, middle values that straddle two
    levels or share one, values over 1, and 0s just short of half."""
    rng = np.random.default_rng(size)
    cases = {
        "paper": np.clip(rng.normal(0.8, 0.05, size), 0, 1),
        "levels": rng.integers(0, 256, size) / 255,
        "two values": np.where(np.arange(size) < size // 2, 0.3, 0.7),
        "one level": 0.5 + rng.uniform(0, 1e-3, size),
        "over 1": rng.uniform(0, 3, size),
        "zeros short of half": np.where(np.arange(size) < size // 2 - 1, 0.0, rng.uniform(0.001, 1, size)),
    }
    for name, values in cases.items():
        a = rng.permutation(values).astype(np.float32)
        assert ink._median(a) == float(np.median(a)), name


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 4096, 4097])
@pytest.mark.parametrize("zeros", ["one short of half", "half", "one over half", "all"])
def test_the_median_of_clean_paper_is_numpys(size, zeros):
    """Mostly 0 (a drawing's ink on clean paper) is answered without sorting: the same value as
    numpy's whether the 0s hold both middle places, one of them or neither."""
    count = {"one short of half": size // 2 - 1, "half": size // 2, "one over half": size // 2 + 1, "all": size}[zeros]
    a = np.random.default_rng(size).uniform(0.2, 1.0, size).astype(np.float32)
    a[: max(0, count)] = 0.0
    assert ink._median(a) == float(np.median(a))


def test_on_clean_paper_the_ink_is_taken_as_it_is():
    """A drawing on clean paper has no background to take away: the ink comes back stretched to
    its brightest 2x2 block, the same as the subtraction of a zero background gives."""
    drawn = np.zeros((120, 100), np.float32)
    drawn[20:100, 45:52] = 0.8
    drawn[20:24, 30:52] = 0.6
    drawn[60, 70] = 1.0  # one hot pixel: not the ink's strength
    flat, peak = ink._remove_background(drawn)
    assert peak == pytest.approx(0.8) and flat is not drawn and drawn.max() == 1.0
    assert np.array_equal(flat, np.minimum(drawn / np.float32(peak), 1.0))
    shaded = drawn + np.linspace(0.0, 0.15, 100, dtype=np.float32)  # light across the page: taken away
    assert ink._remove_background(shaded)[0][50, 95] < 0.05 < shaded[50, 95]


def _framed_page(frame: float) -> np.ndarray:
    """A 200x200 page of light paper (0.95) with a dark stroke, in a frame as wide as the band
    `_ink_up` reads the paper from (a twentieth of the side) of grey level `frame`."""
    gray = np.full((200, 200), 0.95, np.float32)
    gray[40:160, 95:105] = 0.05
    gray[:10], gray[-10:], gray[:, :10], gray[:, -10:] = frame, frame, frame, frame
    return gray


def test_a_clear_border_decides_the_polarity_and_an_ambiguous_one_leaves_it_to_the_bulk():
    # A mid-grey frame (a scanner's lid, a shadow all round) says nothing: the page's bulk is the paper.
    light, inverted = ink._ink_up(_framed_page(0.45))
    assert inverted and light[100, 100] == pytest.approx(0.95) and light[100, 50] == pytest.approx(0.05)
    # A clear border is the paper, whatever fills the middle (a light sheet on a dark board is ink).
    dark, inverted = ink._ink_up(_framed_page(0.1))
    assert not inverted and dark[100, 50] == pytest.approx(0.95)


def _hugs(piece: np.ndarray, side: str, h: int = 100, w: int = 100) -> bool:
    """`_hugs_border` for `piece` (drawn for the left side, turned to face `side`) flush against that side."""
    turn = {"left": piece, "right": piece[:, ::-1], "top": piece.T, "bottom": piece.T[::-1]}[side]
    top = {"top": 0, "bottom": h - turn.shape[0]}.get(side, 20)
    left = {"left": 0, "right": w - turn.shape[1]}.get(side, 20)
    return ink._hugs_border(turn, slice(top, top + turn.shape[0]), slice(left, left + turn.shape[1]), h, w)


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_a_long_piece_along_any_side_is_an_edge_and_one_that_meets_it_end_on_is_not(side):
    assert _hugs(np.ones((60, 3), bool), side)  # along the side
    assert not _hugs(np.ones((3, 60), bool), side)  # meets it with its end
    half = np.ones((60, 3), bool)
    half[30:, 0] = False  # only half its length on the border itself: not enough
    assert not _hugs(half, side)
    wedge = np.zeros((60, 8), bool)  # all its length on the border, a few pixels on its far side
    wedge[:, :2], wedge[:5, 2:] = True, True
    assert _hugs(wedge, side)


def test_a_square_blob_at_the_border_is_no_edge():
    """Not long and thin: a digit's blob pressed against the border is writing, not a page edge."""
    assert not _hugs(np.ones((30, 30), bool), "top")
    assert _hugs(np.ones((30, 10), bool), "top")  # three times as long as wide: an edge


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_solid_shading_at_any_side_is_cut_and_a_faint_patch_inside_is_not(side):
    """The table beyond a tilted page (weak ink, solid, away from the strokes) goes at whichever
    side it lies; weak ink of the same kind that reaches no side stays for the later rules."""
    flat = np.zeros((100, 100), np.float32)
    flat[35:65, 47:53] = 1.0  # the digit's stroke: strong ink
    flat[40:60, 62:75] = 0.4  # a faint patch inside the page
    wedge = {"top": np.s_[0:15, 10:90], "bottom": np.s_[85:100, 10:90],
             "left": np.s_[10:90, 0:15], "right": np.s_[10:90, 85:100]}[side]  # fmt: skip
    flat[wedge] = 0.4
    kept = ink._cut_border_shading(flat > 0.25, flat)
    assert not kept[wedge].any() and not flat[wedge].any()  # cut, and not ink for the faint edge either
    assert kept[40:60, 62:75].all() and kept[35:65, 47:53].all()


def test_weak_ink_at_the_border_that_runs_beside_the_strokes_is_kept():
    """A block-counted digit's faint blocks reach the border and ring its strokes: weak and
    solid as shading is, but lying beside the strokes along much of its edge, it is the digit's."""
    flat = np.zeros((100, 100), np.float32)
    flat[20:80, 47:53] = 1.0
    flat[20:80, 0:45] = 0.4  # from the border to the stroke's rim, all along it
    mask = flat > 0.25
    assert np.array_equal(ink._cut_border_shading(mask, flat), mask)


def _main_cluster(mask: np.ndarray) -> np.ndarray:
    pieces = shape.Pieces.of(mask)
    return ink.main_cluster(mask, pieces, np.arange(1, pieces.count + 1))[0]


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_a_piece_of_writing_beats_a_longer_line_from_the_border_and_a_speck_does_not(side):
    """A line drawn in from the border (a crease, a ruled margin) is the largest piece, but a
    digit's piece inside, a twentieth of its size or more, is what the image is of."""
    turn = {"top": lambda a: a, "bottom": np.flipud, "left": np.transpose, "right": lambda a: np.fliplr(a.T)}[side]
    line = np.zeros((100, 100), bool)
    line[0:90, 10:13] = True  # 270 pixels, long and thin, meeting the border end on
    digit = line.copy()
    digit[45:57, 60:72] = True  # 144 pixels inside
    assert np.array_equal(_main_cluster(turn(digit)), turn(digit & ~line))
    speck = line.copy()
    speck[50:53, 60:63] = True  # 9 pixels: too little to be the writing
    assert _main_cluster(turn(speck))[turn(line)].all()


def test_half_transparent_pixels_are_mixed_with_the_background():
    gray = np.array([[0.0, 0.0, 0.2]], np.float32)
    alpha = np.array([[1.0, 0.0, 0.5]], np.float32)
    # Dark opaque ink: a white background, mixed in by each pixel's transparency.
    assert np.allclose(ink._flatten_alpha(gray, alpha), [[0.0, 1.0, 0.6]])
    assert ink._flatten_alpha(gray, None) is gray and ink._flatten_alpha(gray, np.ones_like(gray)) is gray


def test_a_line_one_pixel_wide_stays_one_pixel_wide_when_shrunk():
    assert ink._shrink(np.ones((1000, 1), np.float32), 320).shape == (320, 1)
    assert ink._shrink(np.ones((1, 1000), np.float32), 320).shape == (1, 320)


@pytest.mark.parametrize("size", [3, 4, 5, 6])
def test_an_opening_keeps_a_shape_the_square_fits_where_it_is(size):
    """An opening removes what is narrower than its square and keeps, unmoved, what the square
    fits in: for an even square too, which has no centre."""
    a = np.zeros((20, 20), np.float32)
    a[5 : 5 + size, 7 : 7 + size] = 1.0  # exactly the square
    a[2, 2:4] = 1.0  # narrower than the square: gone
    expected = np.zeros_like(a)
    expected[5 : 5 + size, 7 : 7 + size] = 1.0
    assert np.array_equal(ink._opening(a, size), expected)


def test_a_wider_opening_is_never_above_a_narrower_one():
    """What lets clean paper skip the second, wider opening of a bold digit: where a square finds
    no paper, a larger one finds none either (it fits in fewer places)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        a = (rng.random((48, 64)) * (rng.random((48, 64)) > 0.3)).astype(np.float32)
        a = cv2.dilate(a, np.ones((int(rng.integers(1, 9)),) * 2, np.uint8))  # blobs of many sizes
        openings = [ink._opening(a, size) for size in range(3, 40)]
        assert all((wider <= narrower).all() for narrower, wider in zip(openings, openings[1:]))


def test_clean_paper_takes_nothing_away_without_measuring_the_widest_stroke(monkeypatch):
    """A marker stroke on clean paper, narrower than the first opening (a third of the thumbnail)
    but within two pixels of it: the ink as it is, and the stroke's width is not measured (it
    would only open wider, and find clean paper again)."""
    drawn = np.zeros((256, 256), np.float32)
    drawn[40:220, 60:140] = 0.9  # a stroke 80 px wide: 20 px on the 64-pixel thumbnail
    flat, peak = ink._remove_background(drawn)
    small, size = ink._shrink(drawn, 64), max(3, 64 // 3)
    assert ink._flattened(drawn, small, size)[2]  # the first opening finds clean paper
    assert ink._widest_stroke(small) + 2 > size  # the case that opened again, wider
    assert ink._flattened(drawn, small, ink._widest_stroke(small) + 2)[2]  # and found clean paper too
    monkeypatch.setattr(ink, "_widest_stroke", lambda small: pytest.fail("measured on clean paper"))
    again, peak_again = ink._remove_background(drawn)
    assert np.array_equal(again, flat) and peak_again == peak == pytest.approx(0.9) and flat.max() == 1.0


def test_the_ink_strength_is_the_brightest_two_by_two_block():
    a = np.zeros((6, 6), np.float32)
    a[2:4, 2:4] = [[1.0, 0.5], [0.25, 0.0]]  # one block, each of its four pixels different
    a[0, 5] = 1.0  # a lone hot pixel: a quarter of a block
    assert ink._block_peak(a) == pytest.approx((1.0 + 0.5 + 0.25) / 4)
    assert ink._block_peak(np.full((1, 3), 0.5, np.float32)) == 0.5  # smaller than a block: its mean


def test_specks_of_fewer_than_four_pixels_are_dropped_and_of_four_kept():
    flat = np.zeros((60, 60), np.float32)
    flat[10:45, 20:24] = 1.0  # the digit's stroke, 140 pixels: a speck limit of 4 (not 2 % of it)
    flat[5, 40:44] = 1.0  # 4 pixels
    flat[55, 40:43] = 1.0  # 3 pixels
    mask, pieces, ids, shading = ink._label_ink(flat.copy())
    assert mask[5, 40:44].all() and not mask[55, 40:43].any() and len(ids) == 2 and shading == 0


def test_a_weak_piece_beside_strong_strokes_is_shading_and_among_weak_ones_is_ink():
    flat = np.zeros((80, 80), np.float32)
    flat[10:70, 20:26] = 1.0  # a pen's stroke: all strong
    flat[10:70, 50:70] = 0.45  # a shadow's soft band: no strong pixel
    mask, pieces, ids, shading = ink._label_ink(flat.copy())
    assert shading == 1 and not mask[:, 50:70].any() and mask[10:70, 20:26].all()
    pencil = np.where(flat > 0, 0.45, 0.0).astype(np.float32)  # every piece weak: pencil, not shading
    mask, pieces, ids, shading = ink._label_ink(pencil)
    assert shading == 0 and mask[10:70, 50:70].all() and mask[10:70, 20:26].all()


def test_an_image_of_exactly_the_working_size_is_worked_as_it_is():
    page = Image.new("L", (ink.WORK_SIZE, 400), 235)
    page.paste(0, (200, 50, 230, 350))
    assert ink.find_ink(page, True, work_size=320).steps["grayscale"].shape == (400, ink.WORK_SIZE)
    bigger = Image.new("L", (ink.WORK_SIZE + 1, 400), 235)
    assert ink.find_ink(bigger, True, work_size=320).steps["grayscale"].shape[1] == 320


def test_a_speck_joins_the_digit_only_close_by_and_a_stroke_from_further_away():
    """How far from the digit's box another piece may lie and still be the digit's: a speck
    within JOIN_SPECK of the box's side, a piece as big as a stroke within JOIN_STROKE."""
    digit = np.zeros((200, 200), bool)
    digit[80:120, 80:120] = True  # the digit: a box 40 pixels a side, 1,600 pixels
    for gap, size, joins in ((8, 3, True), (16, 3, False), (28, 20, True), (36, 20, False)):
        for where in ("below", "right", "above", "left"):
            page = digit.copy()
            near = {"below": (120 + gap, 100), "right": (100, 120 + gap),
                    "above": (80 - gap - size, 100), "left": (100, 80 - gap - size)}[where]  # fmt: skip
            page[near[0] : near[0] + size, near[1] : near[1] + size] = True
            assert _main_cluster(page)[near].item() == joins, (gap, size, where)


def test_weak_ink_at_the_border_that_does_not_fill_its_box_is_not_shading():
    """A faint line drawn to the border is thin, not solid: it is left for the later rules."""
    flat = np.zeros((100, 100), np.float32)
    flat[35:65, 47:53] = 1.0
    for k in range(60):
        flat[k, 95 - k : 100 - k] = 0.4  # a line five pixels wide from the top-right corner
    mask = flat > 0.25
    assert np.array_equal(ink._cut_border_shading(mask, flat), mask)


def test_the_speck_limit_grows_with_the_digit_and_a_lone_mark_is_kept():
    flat = np.zeros((100, 100), np.float32)
    flat[10:90, 20:35] = 1.0  # 1,200 pixels: specks under 2 % of it (24 pixels) are dropped
    flat[5, 50:60] = 1.0  # 10 pixels
    assert not ink._label_ink(flat.copy())[0][5, 50:60].any()
    lone = np.zeros((100, 100), np.float32)
    lone[50, 50:53] = 1.0  # the only ink there is, however small, is not a speck beside anything
    assert ink._label_ink(lone)[0][50, 50:53].all()


def test_a_long_stroke_inside_the_page_is_writing_not_an_edge():
    """Only a piece at the border can be a page's edge: a 1 in the middle of the page stays the
    digit beside a dot twice as far from it as its height."""
    page = np.zeros((200, 200), bool)
    page[60:140, 99:102] = True  # a 1: 240 pixels, long and thin, touching no side
    page[20:24, 30:34] = True  # a dot, 16 pixels (over a twentieth of the 1)
    assert np.array_equal(_main_cluster(page), page & ~np.pad(np.ones((4, 4), bool), ((20, 176), (30, 166))))


def test_ink_fainter_than_a_quarter_is_never_ink_whatever_otsu_says():
    flat = np.zeros((100, 100), np.float32)
    flat[20:80, 10:90] = 0.15  # the paper's grain, left by the background's removal over a wide area
    flat[30:70, 48:52] = 1.0  # the stroke
    assert ink._otsu(flat) < 0.25  # Otsu alone would split the paper from its grain
    mask = ink._label_ink(flat.copy())[0]
    assert mask[30:70, 48:52].all() and mask.sum() == 160
