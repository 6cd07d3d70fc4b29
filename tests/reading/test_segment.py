"""segment: a row of digits cut into candidate digits, with cuts offered for wide groups."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitrec.reading import segment
from digitrec.reading.images import ImageError
from digitrec.reading.preprocess import to_mnist_array
from tests.support.helpers import corr, draw_digit


def test_segment_number_reads_left_to_right():
    row = Image.new("L", (900, 260), 235)
    for k, d in enumerate("1704"):
        row.paste(draw_digit(d, size=(200, 240)), (20 + 215 * k, 10))
    groups = segment.segment_number(row)
    assert len(groups) == 4 and all(len(alternatives[0]) == 1 for alternatives in groups)
    digits = [alternatives[0][0] for alternatives in groups]
    singles = [to_mnist_array(draw_digit(d, size=(200, 240))) for d in "1704"]
    for got, want in zip(digits, singles):
        assert corr(got.array, want) > 0.85
    assert segment.segment_number(Image.new("L", (50, 50), 200)) == []


def test_number_alternatives_offer_cuts_for_wide_groups():
    zero = draw_digit("0", size=(400, 240))  # a round 0, 112 px wide, 154 px tall
    pair = Image.new("L", (600, 260), 235)
    pair.paste(zero, (0, 10))
    pair.paste(zero, (106, 10), mask=Image.eval(zero, lambda v: 255 - v))  # the second 0 touches the first
    groups = segment.segment_number(pair)
    assert len(groups) == 1 and len(groups[0]) >= 2  # one group of ink, read whole or cut in two
    assert [len(alt) for alt in groups[0]][:2] == [1, 2]


def _mask(h: int, w: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A mask with these (top, bottom, left, right) rectangles of ink."""
    mask = np.zeros((h, w), bool)
    for top, bottom, left, right in boxes:
        mask[top:bottom, left:right] = True
    return mask


def _page(mask: np.ndarray) -> Image.Image:
    """The mask as dark ink on light paper."""
    return Image.fromarray(np.where(mask, 20, 235).astype(np.uint8))


def test_pieces_stacked_in_one_column_are_one_digit():
    """A 5's detached bar above its body (overlapping it in x over half the narrower) is the same digit;
    pieces side by side, as tall as digits, stay apart."""
    mask = _mask(100, 200, (10, 20, 20, 60), (25, 90, 20, 50), (10, 90, 100, 130), (10, 90, 150, 180))
    parts, height = segment._number_groups(mask)
    assert len(parts) == 3 and height == 80.0
    assert parts[0].sum() == 10 * 40 + 65 * 30
    assert (parts[1] == _mask(100, 200, (10, 90, 100, 130))).all() and (
        parts[2] == _mask(100, 200, (10, 90, 150, 180))
    ).all()


def test_overlap_of_under_half_the_narrower_piece_keeps_pieces_apart():
    mask = _mask(100, 200, (10, 50, 20, 60), (52, 92, 55, 95))  # 5 of 40 columns shared: two digits
    assert len(segment._number_groups(mask)[0]) == 2
    mask = _mask(100, 200, (10, 50, 20, 60), (52, 92, 39, 79))  # 21 of 40: one
    assert len(segment._number_groups(mask)[0]) == 1


def test_a_dot_or_a_short_stroke_joins_its_nearest_neighbour():
    """Marks shorter than half a digit (or with a fifth of a digit's ink) are not digits: each joins
    the group whose box is nearest, left or right."""
    digits = [(10, 90, 10, 40), (10, 90, 80, 110), (10, 90, 150, 180)]
    dot_right_of_second = (80, 90, 118, 124)  # 8 columns from the second digit, 26 from the third
    parts, _ = segment._number_groups(_mask(100, 200, *digits, dot_right_of_second))
    assert len(parts) == 3 and parts[1][80:90, 118:124].all() and not parts[2][80:90, 118:124].any()
    dot_left_of_third = (80, 90, 136, 142)  # 26 columns from the second, 8 from the third
    parts, _ = segment._number_groups(_mask(100, 200, *digits, dot_left_of_third))
    assert len(parts) == 3 and parts[2][80:90, 136:142].all() and not parts[1][80:90, 136:142].any()


def test_the_row_height_is_the_median_of_the_tall_pieces():
    """Pieces under half the tallest one do not count towards the digit height."""
    mask = _mask(200, 400, (10, 110, 10, 40), (10, 90, 60, 90), (10, 100, 110, 140), (10, 40, 200, 230))
    assert segment._number_groups(mask)[1] == 90.0  # median of 100, 80, 90; not of the 30-pixel one too
    mask = _mask(200, 400, (10, 110, 10, 40), (10, 60, 60, 90))  # 50 is half the tallest: it counts
    assert segment._number_groups(mask)[1] == 75.0


def test_a_light_piece_as_tall_as_a_digit_still_joins_a_neighbour():
    """A hair-thin vertical line beside thick digits has under a fifth of a digit's ink."""
    mask = _mask(100, 300, (10, 90, 10, 50), (10, 90, 70, 71), (10, 90, 150, 190), (10, 90, 230, 270))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 3 and parts[0][10:90, 70].all()


def test_cut_finds_the_thinnest_column_near_each_even_cut():
    """Two blobs joined by a thin bridge are cut in the bridge; the pieces share no pixel and
    together are the whole."""
    part = _mask(60, 200, (10, 50, 10, 60), (28, 31, 60, 75), (10, 50, 75, 125))
    pieces = segment._cut(part, 2)
    assert len(pieces) == 2 and not (pieces[0] & pieces[1]).any() and ((pieces[0] | pieces[1]) == part).all()
    cut = int(np.flatnonzero(pieces[1].any(axis=0))[0])
    assert 60 <= cut < 75 and part[:, cut].sum() == 3  # in the bridge, where a column holds 3 pixels of ink
    assert np.flatnonzero(pieces[0].any(axis=0))[-1] == cut - 1


def test_cut_in_three_and_only_near_the_even_cuts():
    part = _mask(
        60, 300, (10, 50, 0, 90), (28, 30, 90, 100), (10, 50, 100, 190), (28, 30, 190, 200), (10, 50, 200, 300)
    )
    pieces = segment._cut(part, 3)
    assert len(pieces) == 3 and ((pieces[0] | pieces[1] | pieces[2]) == part).all()
    edges = [int(np.flatnonzero(p.any(axis=0))[0]) for p in pieces]
    assert edges[0] == 0 and 90 <= edges[1] <= 100 and 190 <= edges[2] <= 200
    # A thin column far from an even cut is not taken: the cut stays within a third of a share of it.
    part = _mask(60, 300, (10, 50, 0, 20), (28, 30, 20, 22), (10, 50, 22, 300))
    (first, second) = segment._cut(part, 2)
    assert abs(int(np.flatnonzero(second.any(axis=0))[0]) - 150) <= 300 // 6


def test_wide_groups_are_offered_as_two_three_or_four_digits():
    """A group as wide as k digits (0.55 of the height each) is read whole or cut in 2..k, at most 4."""
    for width, most in ((70, 1), (110, 2), (170, 3), (230, 4), (400, 4)):
        mask = _mask(140, 460, (20, 120, 20, 20 + width))
        groups = segment.segment_number(_page(mask))
        assert [len(alternative) for alternative in groups[0]] == list(range(1, most + 1)), width


def test_each_candidate_digit_measures_its_own_ink():
    mask = _mask(120, 300, (10, 110, 20, 60), (10, 110, 150, 155), (10, 110, 165, 170), (40, 45, 150, 170))
    groups = segment.segment_number(_page(mask))
    assert len(groups) == 2 and [len(g) for g in groups] == [1, 1]
    first, second = groups[0][0][0], groups[1][0][0]
    assert first.components == 1 and second.components == 1  # the second's two bars joined by a bridge
    assert first.inverted and first.contrast > 0.5  # dark ink on light paper
    assert first.ink_fraction == pytest.approx(100 * 40 / mask.size, rel=0.05)
    assert first.array.shape == (28, 28) and first.array.max() == pytest.approx(1.0)


def test_too_many_marks_is_an_image_error():
    mask = _mask(100, 400, *[(10, 90, 10 + 40 * k, 30 + 40 * k) for k in range(8)])
    assert len(segment.segment_number(_page(mask), max_digits=8)) == 8
    with pytest.raises(ImageError, match="found 8 separate marks: more than 7 digits, or noise"):
        segment.segment_number(_page(mask), max_digits=7)


def test_ink_aspect_is_width_over_height():
    array = np.zeros((28, 28), np.float32)
    assert segment.ink_aspect(array) == 1.0  # blank
    array[4:24, 10:20] = 1.0
    assert segment.ink_aspect(array) == 0.5
    array[4:6, 2:26] = 1.0
    assert segment.ink_aspect(array) == 24 / 20


def test_a_stacked_pair_after_another_digit_is_compared_with_its_own_neighbour():
    """The overlap is measured against the group just before (the last one), not the first."""
    mask = _mask(100, 300, (10, 90, 10, 40), (10, 50, 100, 140), (52, 92, 110, 150))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 2 and parts[1].sum() == 2 * 40 * 40


@pytest.mark.parametrize(
    ("first", "second", "groups"),
    [
        ((10, 50, 20, 40), (55, 90, 25, 105), 1),  # 15 columns shared, over half the narrower (20): one
        ((10, 50, 20, 100), (55, 90, 80, 100), 1),  # the narrow one second: the same
        ((10, 50, 20, 40), (55, 90, 30, 110), 2),  # exactly half (10 of 20): two
    ],
)
def test_the_overlap_is_judged_against_the_narrower_piece(first, second, groups):
    assert len(segment._number_groups(_mask(100, 200, first, second))[0]) == groups


def test_one_digit_and_a_dot_are_one_group_and_every_mark_finds_a_digit():
    assert len(segment._number_groups(_mask(100, 100, (10, 90, 10, 40), (80, 88, 44, 50)))[0]) == 1
    # Two marks, each near a different digit: both join (the merging goes on until nothing changes).
    digits = [(10, 90, 10, 40), (10, 90, 80, 110), (10, 90, 150, 180)]
    parts, _ = segment._number_groups(_mask(100, 200, *digits, (80, 88, 44, 50), (80, 88, 114, 120)))
    assert len(parts) == 3 and parts[0][80:88, 44:50].all() and parts[1][80:88, 114:120].all()


def test_a_wide_mark_joins_the_nearer_box():
    """The gap to a neighbour is between the boxes' facing edges, on either side: an 18-column
    mark 2 columns from the second digit and 6 from the third joins the second; 12 and 4, the third."""
    mark = (40, 58, 112, 130)
    for second_end, third_start, nearer in ((110, 136, 1), (100, 134, 2)):
        digits = [(10, 90, 10, 40), (10, 90, second_end - 30, second_end), (10, 90, third_start, third_start + 30)]
        parts, _ = segment._number_groups(_mask(100, 220, *digits, mark))
        assert len(parts) == 3 and parts[nearer][mark[0] : mark[1], mark[2] : mark[3]].all(), (second_end, nearer)


def test_a_short_heavy_mark_joins_a_neighbour_and_half_a_digit_tall_stays():
    """A mark under half the digit height is not a digit, however much ink it has; one exactly
    half as tall, with ink enough, is."""
    digits = [(10, 90, 10, 40), (10, 90, 80, 110), (10, 90, 200, 230)]
    parts, _ = segment._number_groups(_mask(100, 240, *digits, (60, 79, 120, 180)))  # 19 px tall, 1,140 px of ink
    assert len(parts) == 3 and parts[1][60:79, 120:180].all()
    assert len(segment._number_groups(_mask(100, 240, *digits, (40, 80, 120, 180)))[0]) == 4  # 40 of 80


def test_a_mark_with_a_fifth_of_a_digits_ink_stays():
    digits = [(10, 90, 10, 40), (10, 90, 80, 110), (10, 90, 200, 230)]  # 2,400 px of ink each
    assert len(segment._number_groups(_mask(100, 240, *digits, (10, 90, 150, 156)))[0]) == 4  # 480 px: a 1
    assert len(segment._number_groups(_mask(100, 240, *digits, (10, 90, 150, 155)))[0]) == 3  # 400 px: not


@pytest.mark.parametrize("thin", [60 - 101 // 6, 60 + 101 // 6])
def test_the_cut_looks_a_sixth_of_a_share_either_side_of_the_even_cut(thin):
    """Cutting columns 10-110 (101) in two looks at columns 60 - 16 to 60 + 16 (the first thinnest wins)."""
    part = _mask(40, 120, (0, 40, 10, 111))
    part[10:, thin] = False  # one column with a little ink, at the window's edge: taken
    part[5:, thin - 1 if thin < 60 else thin + 1] = False  # a thinner one just outside: not
    first, second = segment._cut(part, 2)
    assert int(np.flatnonzero(second.any(axis=0))[0]) == thin
    assert ((first | second) == part).all()


def test_the_cut_is_the_first_thinnest_column_not_the_even_guess():
    part = _mask(60, 200, (10, 50, 10, 60), (28, 31, 60, 75), (10, 50, 75, 125))
    first, second = segment._cut(part, 2)
    assert int(np.flatnonzero(second.any(axis=0))[0]) == 60  # the guess was column 68


def test_a_group_as_wide_as_tall_is_offered_cut_and_a_narrower_one_not():
    for width, alternatives in ((100, [1, 2]), (99, [1])):
        (group,) = segment.segment_number(_page(_mask(140, 300, (20, 120, 20, 20 + width))))
        assert [len(alternative) for alternative in group] == alternatives, width


def test_thirty_two_marks_are_a_number_and_thirty_three_too_many():
    def marks(count: int) -> Image.Image:
        return _page(_mask(60, 10 * count + 10, *[(10, 50, 10 + 10 * k, 15 + 10 * k) for k in range(count)]))

    assert len(segment.segment_number(marks(32))) == 32
    with pytest.raises(ImageError, match="found 33 separate marks"):
        segment.segment_number(marks(33))


def test_a_digits_faint_ink_is_kept_in_a_number():
    """A digit's light strokes (faint ink that touches it, as a block-counted digit's light blocks)
    come with it, as they do for a digit alone; the other digits' ink is not its own."""
    from digitrec.reading.ink import find_ink
    from digitrec.reading.preprocess import fit_to_mnist

    page = np.full((140, 300), 235, np.uint8)
    page[20:120, 30:45] = page[105:120, 30:90] = 20  # an L
    page[60:105, 45:70] = 170  # faint ink inside its box, touching it
    page[20:120, 200:230] = 20  # a 1
    groups = segment.segment_number(Image.fromarray(page))
    assert len(groups) == 2
    ink = find_ink(Image.fromarray(page), False)
    parts, _ = segment._number_groups(ink.mask)
    alone = fit_to_mnist(ink.flat, parts[0], None)
    assert np.array_equal(groups[0][0][0].array, alone)
    bare = page.copy()
    bare[60:105, 45:70] = 235
    assert alone.sum() > to_mnist_array(Image.fromarray(bare[:, :150])).sum() + 10  # the faint ink counts


def test_ink_one_row_tall_is_as_wide_as_it_is_long():
    array = np.zeros((28, 28), np.float32)
    array[14, 4:24] = 1.0
    assert segment.ink_aspect(array) == 20.0


@pytest.mark.parametrize(("top", "bottom"), [((10, 52), (60, 90)), ((10, 45), (48, 90))])
def test_a_digit_in_two_pieces_is_as_tall_as_both(top, bottom):
    """Two pieces one above the other, one of them under half a digit tall, make one digit
    spanning both: it is not a mark to join to a neighbour."""
    mask = _mask(100, 260, (10, 90, 10, 40), (*top, 100, 130), (*bottom, 100, 130), (10, 90, 200, 230))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 3 and parts[1].sum() == 30 * (top[1] - top[0] + bottom[1] - bottom[0])


def test_pieces_joined_span_both_boxes_for_the_next_piece():
    """A piece overlapping the right part of a joined pair joins it too: the pair's box reaches
    as far right as its wider piece."""
    mask = _mask(100, 260, (10, 52, 100, 130), (60, 90, 100, 160), (10, 50, 140, 175))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 1


def test_a_mark_after_hundreds_of_groups_still_finds_its_neighbour():
    """Noise of 300 marks and a dot: the dot joins the last mark, and the page is refused as noise."""
    marks = [(10, 50, 10 + 7 * k, 15 + 7 * k) for k in range(300)]
    mask = _mask(60, 2130, *marks, (44, 48, 2112, 2114))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 300 and parts[-1][44:48, 2112:2114].all()
    with pytest.raises(ImageError, match="separate marks: more than 32 digits, or noise"):
        segment.segment_number(_page(mask))


def test_a_joined_pair_keeps_the_wider_pieces_right_edge():
    """A narrow piece under a wide one joins it; the pair still reaches the wide one's right edge,
    where a third piece overlaps it."""
    mask = _mask(100, 200, (10, 50, 100, 160), (55, 90, 105, 125), (55, 90, 145, 170))
    assert len(segment._number_groups(mask)[0]) == 1


def test_a_joined_pair_keeps_the_left_pieces_left_edge():
    """A pair whose lower piece starts further right still starts where its upper piece does: a
    dot 5 columns to its left joins it, not the digit 10 columns further left."""
    mask = _mask(100, 200, (10, 90, 50, 80), (10, 52, 100, 130), (60, 90, 110, 160), (80, 84, 90, 95))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 2 and parts[1][80:84, 90:95].all()


def _ring(mask: np.ndarray, top: int, bottom: int, left: int, right: int) -> None:
    """A hollow rectangle, one pixel wide: a digit of little ink for its size."""
    mask[top:bottom, left:right] = True
    mask[top + 1 : bottom - 1, left + 1 : right - 1] = False


def test_marks_after_the_last_digit_join_it_not_one_another():
    """A dash and two dots right of a row's last digit: each joins the nearer group in turn, the
    groups as they are after the last join (a mark joined to the digit makes the digit's group
    reach it), so all three end with the digit, never as a digit of marks alone."""
    mask = _mask(40, 80, (5, 30, 11, 17), (5, 30, 22, 26), (9, 11, 31, 43), (11, 13, 45, 47), (24, 26, 53, 54))
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 2
    assert (parts[0] == _mask(40, 80, (5, 30, 11, 17))).all()
    assert (parts[1] == mask & ~parts[0]).all()


def test_a_joined_group_keeps_its_left_edge_for_the_marks_measured_after():
    """A short mark joins the ring on its left; the median ink then rises, and a thin stroke left
    of the ring becomes light enough to join a neighbour: the ring's group, 4 px away, not the
    solid digit 10 px away on its left (the group's left edge is still the ring's own)."""
    mask = _mask(40, 80, (5, 30, 0, 8), (5, 30, 18, 19), (27, 29, 41, 44), (5, 30, 60, 72))
    _ring(mask, 5, 30, 23, 38)
    parts, _ = segment._number_groups(mask)
    assert len(parts) == 3
    assert (parts[0] == _mask(40, 80, (5, 30, 0, 8))).all() and (parts[2] == _mask(40, 80, (5, 30, 60, 72))).all()
    assert parts[1][5:30, 18].all() and parts[1][27:29, 41:44].all()
