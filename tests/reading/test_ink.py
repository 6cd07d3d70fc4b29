"""ink: the thin-stroke rule and Otsu's threshold, on small exact images."""

from __future__ import annotations

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
