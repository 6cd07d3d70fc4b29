"""segment: a row of digits cut into candidate digits, with cuts offered for wide groups."""

from __future__ import annotations

from PIL import Image

from digitrec.reading import segment
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
