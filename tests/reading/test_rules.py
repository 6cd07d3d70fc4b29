"""rules: every "no digit" rule at its boundary, with the numbers written out, so that a threshold
moved or a comparison turned around fails here (and `make bench-mutation` checks that it does)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np

from digitrec.reading import rules
from tests.support.helpers import REPO


def ink(fraction: float = 0.1, components: int = 1, holes: int = 0, pieces: int = 1, blank: bool = False):
    """The ink measures `judge_ink` reads, as a Preprocessed carries them."""
    array = np.zeros((28, 28), np.float32)
    if not blank:
        array[10:18, 12:15] = 1.0
    return SimpleNamespace(array=array, ink_fraction=fraction, components=components, holes=holes, pieces=pieces)


def test_a_digit_like_ink_passes_every_ink_rule():
    assert rules.judge_ink(ink()) is None
    assert rules.judge_ink(ink(fraction=0.40, components=6, holes=2, pieces=3)) is None  # each at its limit


def test_no_ink_is_a_blank_image_or_no_ink_measured():
    assert rules.judge_ink(ink(blank=True)) == rules.NO_INK_FOUND
    assert rules.judge_ink(ink(fraction=0.0)) == rules.NO_INK_FOUND
    assert rules.NO_INK_FOUND == ("no ink", "no ink found (a blank or too faint image)")
    assert rules.judge_ink(ink(fraction=0.001)) is None


def test_ink_over_two_fifths_of_the_image_in_several_pieces_is_scattered():
    verdict = rules.judge_ink(ink(fraction=0.41, components=3))
    assert verdict == ("scattered", "ink covers 41% of the image: noise or a picture, not a digit")
    assert rules.judge_ink(ink(fraction=0.40, components=3)) is None


def test_a_digit_in_one_piece_may_fill_half_its_frame():
    # An 8x8 digit blown up, or a bold digit cropped tight: one piece, a digit's loops.
    assert rules.judge_ink(ink(fraction=0.50, components=2, holes=2, pieces=1)) is None
    assert rules.judge_ink(ink(fraction=0.50)) is None
    assert rules.judge_ink(ink(fraction=0.45)) is None
    scattered = ("scattered", "ink covers 51% of the image: noise or a picture, not a digit")
    assert rules.judge_ink(ink(fraction=0.51)) == scattered
    assert rules.judge_ink(ink(fraction=0.45, components=3))[0] == "scattered"  # more than a speck beside it
    assert rules.judge_ink(ink(fraction=0.45, pieces=2, components=2))[0] == "scattered"  # two parts
    assert rules.judge_ink(ink(fraction=0.45, holes=3))[0] == "scattered"  # a grid, noise


def test_more_than_six_pieces_of_ink_are_scattered():
    assert rules.judge_ink(ink(components=7)) == ("scattered", "ink in 7 scattered pieces: noise, not a digit")
    assert rules.judge_ink(ink(components=6)) is None


def test_more_than_two_loops_are_not_digit_shaped():
    assert rules.judge_ink(ink(holes=3)) == (
        "not digit-shaped",
        "3 closed loops: a drawing, not a digit (an 8 has two)",
    )
    assert rules.judge_ink(ink(holes=2)) is None


def test_more_than_three_separate_parts_are_not_digit_shaped():
    assert rules.judge_ink(ink(pieces=4)) == (
        "not digit-shaped",
        "a figure of 4 separate parts: a drawing, not a digit",
    )
    assert rules.judge_ink(ink(pieces=3)) is None


def test_a_digit_the_model_is_sure_of_may_have_up_to_four_loops_and_four_parts():
    assert (rules.MAX_HOLES_IF_SURE, rules.MAX_PIECES_IF_SURE, rules.MAX_FRAME_PIECES_IF_SURE) == (4, 4, 2)
    # An 8 whose strokes cross leaves a third, small loop; a blown-up block digit leaves gaps.
    assert rules.SURE == 0.999
    for holes, pieces in ((3, 1), (4, 1), (0, 4), (4, 4)):
        assert rules.judge_ink(ink(holes=holes, pieces=pieces), confidence=0.999) is None
        assert rules.judge_ink(ink(holes=holes, pieces=pieces), confidence=1.0) is None
        assert rules.judge_ink(ink(holes=holes, pieces=pieces), confidence=0.9989)[0] == "not digit-shaped"
    assert rules.judge_ink(ink(holes=5), confidence=1.0) == (
        "not digit-shaped",
        "5 closed loops: a drawing, not a digit (an 8 has two)",
    )
    assert rules.judge_ink(ink(pieces=5), confidence=1.0)[1] == "a figure of 5 separate parts: a drawing, not a digit"
    # A digit filling its frame with the loops a sure reading allows; not one less sure, nor more loops.
    assert rules.judge_ink(ink(fraction=0.45, holes=4), confidence=0.999) is None
    assert rules.judge_ink(ink(fraction=0.45, holes=3), confidence=0.998)[0] == "scattered"
    assert rules.judge_ink(ink(fraction=0.45, holes=5), confidence=1.0)[0] == "scattered"
    # A sure digit filling its frame may be in two parts (a block digit's stroke broken), not three.
    assert rules.judge_ink(ink(fraction=0.45, pieces=2, components=2), confidence=0.999) is None
    assert rules.judge_ink(ink(fraction=0.45, pieces=2, components=2), confidence=0.998)[0] == "scattered"
    assert rules.judge_ink(ink(fraction=0.45, pieces=3, components=2), confidence=1.0)[0] == "scattered"
    # Sure or not, the rest of the rules stand.
    assert rules.judge_ink(ink(components=7), confidence=1.0)[0] == "scattered"
    assert rules.judge_ink(ink(fraction=0.45, pieces=2, components=3), confidence=1.0)[0] == "scattered"
    assert rules.judge_ink(ink(fraction=0.51), confidence=1.0)[0] == "scattered"
    assert rules.judge_ink(ink(blank=True), confidence=1.0) == rules.NO_INK_FOUND


def test_the_rules_are_asked_in_order_blank_first():
    assert rules.judge_ink(ink(blank=True, fraction=0.9, components=9, holes=9, pieces=9)) == rules.NO_INK_FOUND
    assert rules.judge_ink(ink(fraction=0.9, components=9, holes=9, pieces=9)).reason.startswith("ink covers 90%")
    assert rules.judge_ink(ink(components=9, holes=9, pieces=9)).reason.startswith("ink in 9 scattered")
    assert rules.judge_ink(ink(holes=9, pieces=9)).reason.startswith("9 closed loops")


def test_a_doubt_is_not_a_digit_for_a_model_that_knows_non_digits_else_uncertain():
    assert rules.judge_confidence(4, 0.6, 0.6, True) is None  # at the threshold: an answer
    assert rules.judge_confidence(4, 0.61, 0.6, True) is None and rules.judge_confidence(4, 1.0, 0.6, False) is None
    assert rules.judge_confidence(4, 0.59, 0.6, True) == ("not a digit", "not a digit: best guess 4 at 59% (below 60%)")
    assert rules.judge_confidence(4, 0.59, 0.6, False) == ("uncertain", "uncertain: best guess 4 at 59% (below 60%)")


def test_a_pair_doubt_judges_the_two_likeliest_digits_together():
    """The shipped model's rule: torn between two digits is still a digit; doubt spread wider is not."""
    assert rules.judge_pair(1, 7, 0.8, 0.8, True) is None  # at the threshold: an answer
    assert rules.judge_pair(1, 7, 0.95, 0.8, False) is None
    assert rules.judge_pair(1, 7, 0.79, 0.8, True) == (
        "not a digit", "not a digit: best guesses 1 and 7 at 79% together (below 80%)"
    )  # fmt: skip
    unsure = rules.judge_pair(4, 9, 0.5, 0.8, False)
    assert unsure == ("uncertain", "uncertain: best guesses 4 and 9 at 50% together (below 80%)")
    close = rules.judge_pair(4, 9, 0.7996, 0.8, True)
    assert close is not None and close.reason.endswith("at 79.96% together (below 80.00%)")


def test_close_figures_get_the_decimals_that_tell_them_apart():
    assert rules._apart(0.45, 0.6) == ("45%", "60%")
    assert rules._apart(0.595, 0.6) == ("59.5%", "60.0%")
    assert rules._apart(0.99996, 1.0) == ("99.996%", "100.000%")
    assert rules._apart(0.6, 0.6) == ("60.0000%", "60.0000%")  # equal: as close as they are said


def test_a_reading_pays_for_each_extra_cut_and_each_piece_wider_than_tall():
    """Half a nat per cut, one per unit of width beyond the height: a wide 0 stays whole unless
    its halves are read far more surely."""
    assert rules.reading_score([1.0], [1.0]) == 0.0
    assert rules.reading_score([1.0, 1.0], [0.6, 0.6]) == -0.5
    assert rules.reading_score([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == -1.0
    assert rules.reading_score([1.0], [1.5]) == -0.5 and rules.reading_score([1.0], [3.0]) == -2.0
    assert abs(rules.reading_score([0.5, 0.25], [0.8, 0.9]) - (np.log(0.5) + np.log(0.25) - 0.5)) < 1e-12
    assert rules.reading_score([0.0], [1.0]) == np.log(1e-9)  # a sure "not this" costs much, not infinitely
    whole, halves = rules.reading_score([0.9], [1.8]), rules.reading_score([0.95, 0.95], [0.9, 0.9])
    assert halves > whole  # a piece twice as wide as tall and only fairly sure: the cut wins
    assert rules.reading_score([0.99], [1.1]) > rules.reading_score([0.99, 0.99], [0.6, 0.6])  # a 0: whole


def test_thresholds_for_new_runs_and_the_kinds_of_doubt():
    assert rules.run_min_confidence(0.1) == 0.60 and rules.run_min_confidence(0.0) == 0.90
    assert rules.DOUBT_KINDS == ("not a digit", "uncertain")
    assert rules.NO_DIGIT_KINDS == ("no ink", "scattered", "not digit-shaped", "not a digit", "uncertain")
    assert (rules.SHIPPED_MIN_CONFIDENCE, rules.NUMBER_MIN_CONFIDENCE) == (0.60, 0.50)


def test_the_docs_state_the_thresholds_the_code_uses():
    """README and the prediction guide say the numbers this module holds."""
    readme = (REPO / "README.md").read_text()
    guide = (REPO / "docs" / "prediction.md").read_text()
    shipped, pair = f"{rules.SHIPPED_MIN_CONFIDENCE:.2f}", f"{rules.SHIPPED_MIN_PAIR_CONFIDENCE:.2f}"
    assert f"the shipped model (two likeliest, {pair})" in readme and f"its best guess alone ({shipped})" in readme
    assert f"its two likeliest digits together are below {pair}" in guide.replace("\n", " ")
    assert f"The same rule on the best guess alone picks {shipped}" in guide.replace("\n", " ")
    assert re.search(rf"uncertain below {rules.NUMBER_MIN_CONFIDENCE:.2f}", guide)
    assert f"else {rules.MIN_CONFIDENCE:.2f}" in guide
    fraction, one_piece = round(100 * rules.MAX_INK_FRACTION), round(100 * rules.MAX_INK_FRACTION_ONE_PIECE)
    assert f"ink over more than {fraction} % of the picture ({one_piece} % when it is one piece" in guide
