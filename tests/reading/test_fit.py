"""fit_to_mnist, exactly: where the ink lands in the 28x28, how big, how thick, for shapes whose
answer can be worked out by hand (20x20 box, centred by mass, thin strokes thickened first)."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.reading.preprocess import FAINT_INK, _centre_of_mass, _disk, fit_to_mnist


def box(a: np.ndarray, floor: float = 0.05) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels above `floor`, bottom and right exclusive."""
    rows, cols = np.flatnonzero((a > floor).any(axis=1)), np.flatnonzero((a > floor).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fit(mask: np.ndarray, strength: float = 1.0) -> np.ndarray:
    return fit_to_mnist(mask.astype(np.float32) * strength, mask)


def test_disks_are_round_and_the_centre_of_mass_reads_rows_then_columns():
    assert _disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert _disk(2).tolist() == [
        [0, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 0, 0],
    ]
    a = np.zeros((3, 5), np.float32)
    a[2, 4] = 1.0
    assert _centre_of_mass(a) == (2.0, 4.0)
    a[0, 0] = 1.0
    assert _centre_of_mass(a) == (1.0, 2.0)


def test_a_block_fills_twenty_pixels_on_its_long_side_centred_and_at_full_strength():
    mask = np.zeros((60, 60), bool)
    mask[10:50, 20:40] = True  # 40 tall, 20 wide: halved
    out = fit(mask, strength=0.5)  # a faint one is brought to full strength
    assert box(out) == (4, 24, 9, 19) and out.max() == 1.0 and out.sum() == 200.0
    assert _centre_of_mass(out) == (13.5, 13.5)
    assert not fit(np.zeros((30, 30), bool)).any()  # no ink: an empty frame


def test_the_centre_of_mass_moves_the_ink_but_never_out_of_the_frame():
    tee = np.zeros((80, 80), bool)
    tee[10:25, 10:70] = True  # a heavy bar on a thin stem: the mass is high, so it moves down...
    tee[25:70, 37:43] = True
    assert box(fit(tee)) == (8, 28, 4, 24)  # ...until it meets the bottom edge
    upside_down = np.flipud(tee)
    assert box(fit(upside_down)) == (0, 20, 4, 24)  # and up to the top edge
    assert box(fit(np.rot90(tee))) == (4, 24, 8, 28)  # the bar on the left: to the right edge
    assert box(fit(np.rot90(tee, -1))) == (4, 24, 0, 20)  # on the right: to the left edge
    ell = np.zeros((80, 80), bool)
    ell[10:70, 10:16] = True
    ell[64:70, 10:40] = True
    out = fit(ell)
    assert box(out) == (1, 21, 12, 22)  # up three and right three, inside the frame
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5


def test_a_one_pixel_line_keeps_one_pixel_when_it_is_not_shrunk():
    upright = np.zeros((30, 30), bool)
    upright[5:25, 12] = True  # 20 tall: scale 1
    assert box(fit(upright)) == (4, 24, 13, 14)
    flat = np.zeros((30, 30), bool)
    flat[12, 5:25] = True
    assert box(fit(flat)) == (13, 14, 4, 24)


def test_thin_strokes_are_thickened_before_they_are_shrunk():
    """A fine pen in a big photo: 1 px at a tenth of the size would fade; it lands 2 px wide."""
    tall = np.zeros((220, 40), bool)
    tall[10:210, 20] = True  # 200 px tall, 1 px wide: grown by 10 px each side, then shrunk
    out = fit(tall)
    assert box(out) == (4, 24, 13, 15) and round(float(out.sum()), 3) == 38.964
    wide = np.zeros((40, 220), bool)
    wide[20, 10:210] = True
    assert box(fit(wide)) == (13, 15, 4, 24)
    two = np.zeros((60, 40), bool)
    two[10:50, 20:22] = True  # 2 px at half size: grown by exactly 1 px each side
    out = fit(two)
    assert box(out) == (4, 24, 13, 15) and round(float(out.sum()), 3) == 39.0


def _diagonal(width: int, holes_every: int = 0) -> np.ndarray:
    """A pen stroke from corner to corner of a 240 px square, `width` px across; with
    `holes_every`, pierced by a pin-hole every that many pixels, as chalk leaves them."""
    import cv2

    image = np.zeros((240, 240), np.uint8)
    cv2.line(image, (20, 220), (220, 20), 1, width)
    if holes_every:
        image[::holes_every, ::holes_every] = 0
    return image.astype(bool)


def test_a_stroke_under_two_px_after_the_fit_is_thickened_where_the_quick_estimate_reads_it_wider():
    """The quick estimate (area over edge) reads a diagonal stroke wider than it is: 16 px reads as
    23, over 2 px after the fit, while it is 1.7 px there. The exact width decides: it lands as
    heavy as a 20 px stroke, which needs no thickening."""
    assert abs(float(fit(_diagonal(16)).sum()) - float(fit(_diagonal(20)).sum())) < 0.5


def test_a_wide_stroke_with_pin_holes_is_not_thickened_as_a_thin_one():
    """Pin-holes make the exact width small (no pixel is far from one: 1.2 px after the fit), but a
    stroke 100 px across is clearly wide (the quick estimate: 3.1 px after the fit), so the exact
    width is never asked for and nothing is thickened: it lands as heavy as the same stroke whole."""
    assert abs(float(fit(_diagonal(100, holes_every=11)).sum()) - float(fit(_diagonal(100)).sum())) < 1.0


def test_faint_ink_that_touches_the_digit_is_kept_and_nothing_fainter_or_apart():
    """The hysteresis of `_with_faint_ink`, within the digit's box: a stem broken by light blocks
    (0.19 of the strongest, under the ink threshold) is whole in the fitted image; ink under
    FAINT_INK beside it, and faint ink apart from it, stay out."""
    soft = np.zeros((80, 60), np.float32)
    soft[:, 25:35] = np.repeat([1.0, 0.19, 1.0, 0.19, 1.0, 0.19, 1.0, 1.0], 10)[:, None]  # a stem in blocks
    soft[0:6, 5:55] = 1.0  # a bar across the top: the box is 50 wide
    soft[30:50, 35:50] = 0.05  # fainter than FAINT_INK, beside the stem
    soft[60:70, 6:14] = 0.19  # faint, apart
    soft[52:58, 35:50] = np.float32(0.1)  # exactly FAINT_INK, beside the stem: not over it
    a = fit_to_mnist(soft, soft > 0.5)
    stem = a[:, 12:16]  # the stem's columns in the 20x20 box
    rows = np.flatnonzero(stem.max(axis=1) > 0.05)
    assert len(rows) == rows[-1] - rows[0] + 1 and stem[rows].max(axis=1).min() > 0.1  # no gap where a light block was
    assert a[9:, 16:].max() == 0 and a[9:, :12].max() == 0  # below the bar, beside and apart: nothing


def test_faint_ink_reaching_the_border_is_shading_unless_the_digit_reaches_it_too():
    """A page corner's shading is faint "ink" that runs from the digit to the image's border: a
    digit clear of the border leaves it out. A digit that reaches the border itself (a
    block-counted digit filling its frame) keeps its faint ink, to the border or not."""
    page = np.zeros((100, 80), np.float32)
    page[10:90, 35:45] = 1.0  # a 7-like digit clear of the border: a stem
    page[10:16, 10:70] = 1.0  # and a bar, so that its box is wide
    page[20:30, 25:35] = 0.19  # a faint block beside the stem, clear of the border
    plain = fit_to_mnist(page, page > 0.5)
    shaded = page.copy()
    shaded[60:100, 45:80] = 0.19  # shading from the stem to the bottom and right borders
    assert abs(fit_to_mnist(shaded, shaded > 0.5).sum() - plain.sum()) < 1.0  # left out (but its one-pixel rim)
    without_block = page.copy()
    without_block[20:30, 25:35] = 0.0
    assert plain.sum() > fit_to_mnist(without_block, without_block > 0.5).sum() + 1  # the block is in it
    apart = shaded.copy()
    apart[60:100, 75:80] = apart[96:100, 45:80] = 0.0  # the same shading short of the border: faint ink
    assert fit_to_mnist(apart, apart > 0.5).sum() > plain.sum() + 5
    reaching = shaded.copy()
    reaching[0:10, 35:45] = 1.0  # the stem up to the top border: faint ink to the border is the digit's
    stem = page.copy()
    stem[0:10, 35:45] = 1.0
    assert fit_to_mnist(reaching, reaching > 0.5).sum() > fit_to_mnist(stem, stem > 0.5).sum() + 5


# A cross in a 100x100 image, clear of the border, and for each side a faint band from it to that
# side alone, through one of its empty quarters (or to a pixel short of it); and the arm that takes
# the cross to that side (or to a pixel short of it).
BANDS = {"top": (slice(0, 47), slice(30, 40)), "bottom": (slice(53, 100), slice(60, 70)),
         "left": (slice(60, 70), slice(0, 47)), "right": (slice(30, 40), slice(53, 100))}  # fmt: skip
SHORT = {"top": (slice(1, 47), slice(30, 40)), "bottom": (slice(53, 99), slice(60, 70)),
         "left": (slice(60, 70), slice(1, 47)), "right": (slice(30, 40), slice(53, 99))}  # fmt: skip
ARMS = {"top": (slice(0, 20), slice(47, 53)), "bottom": (slice(80, 100), slice(47, 53)),
        "left": (slice(47, 53), slice(0, 20)), "right": (slice(47, 53), slice(80, 100))}  # fmt: skip
SHORT_ARMS = {"top": (slice(1, 20), slice(47, 53)), "bottom": (slice(80, 99), slice(47, 53)),
              "left": (slice(47, 53), slice(1, 20)), "right": (slice(47, 53), slice(80, 99))}  # fmt: skip
SPECK = (slice(98, 100), slice(98, 100))  # faint ink in a corner, apart from the rest


@pytest.mark.parametrize("side", list(BANDS))
def test_faint_ink_reaching_any_one_side_is_shading_for_a_digit_clear_of_them_all(side):
    def cross(*faint, arm=None, at=None) -> float:
        page = np.zeros((100, 100), np.float32)
        page[47:53, 20:80] = page[20:80, 47:53] = 1.0
        if arm is not None:
            page[arm] = 1.0
        for band in faint:
            page[band] = np.maximum(page[band], 0.19)
        if at is not None:
            page[at] = np.float32(FAINT_INK)
        return float(fit_to_mnist(page, page > 0.5).sum())

    assert abs(cross(BANDS[side]) - cross()) < 1.0  # to that side alone: shading (its one-pixel rim only)
    assert cross(SHORT[side]) > cross() + 5  # a pixel short of it: faint ink, kept
    assert cross(SHORT[side], SPECK) > cross(SPECK) + 5  # the same with faint ink at the border elsewhere
    at = {"top": (slice(0, 1), slice(30, 40)), "bottom": (slice(99, 100), slice(60, 70)),
          "left": (slice(60, 70), slice(0, 1)), "right": (slice(30, 40), slice(99, 100))}[side]  # fmt: skip
    assert cross(SHORT[side], SPECK, at=at) > cross(SPECK) + 5  # its last pixel exactly FAINT_INK: short of it
    assert cross(BANDS[side], arm=ARMS[side]) > cross(arm=ARMS[side]) + 5  # the digit reaches that side too: kept
    near = SHORT_ARMS[side]  # the digit a pixel short of that side is clear of it
    assert abs(cross(BANDS[side], arm=near) - cross(arm=near)) < 1.0


def test_a_faint_bridge_to_other_ink_does_not_bring_it_into_the_digit():
    """Two strokes joined by faint ink: one is the digit, the other not (another piece, the next
    digit of a number). Told so, the fit keeps the faint bridge and the other stroke out."""
    soft = np.zeros((80, 60), np.float32)
    soft[0:80, 10:20] = 1.0  # the digit
    soft[0:60, 40:50] = 1.0  # other ink, inside the digit's box once the box is wide
    soft[30:34, 20:40] = 0.19  # a faint bridge between them
    digit = np.zeros_like(soft, dtype=bool)
    digit[0:80, 10:20] = True
    digit[78:80, 10:50] = True  # a foot that makes the box reach the other stroke
    soft[78:80, 10:50] = 1.0
    alone = fit_to_mnist(soft, digit, other=(soft > 0.5) & ~digit)
    assert ((alone > 0.5).sum(axis=0) > 5).sum() == 2  # the digit's stem alone stands
    assert ((fit_to_mnist(soft, digit) > 0.5).sum(axis=0) > 5).sum() == 4  # untold, the bridge brings the other in
