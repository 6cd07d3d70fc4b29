"""web.inputs: JSON pixels become the model's 28x28 input, scaled the same from 0-1 or 0-255;
anything else is a 422 with one sentence."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi import HTTPException  # noqa: E402

from digitrec.web.inputs import pixels  # noqa: E402


def test_pixels_in_either_scale_give_the_same_input():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (28, 28))
    from_bytes = pixels({"pixels": levels.tolist()})
    from_unit = pixels({"pixels": (levels / 255.0).tolist()})
    assert from_bytes.dtype == np.float32 and from_bytes.shape == (28, 28)
    assert np.allclose(from_bytes, from_unit, atol=1e-6) and from_bytes.max() <= 1.0


@pytest.mark.parametrize(
    "item",
    [
        {"pixels": [[0] * 28] * 27},
        {"pixels": [[0] * 27] * 28},
        {"pixels": [["a"] * 28] * 28},
        {"pixels": [[-1] * 28] * 28},
        {"pixels": [[300] * 28] * 28},
        {"pixels": [[float("nan")] * 28] * 28},
        {"pixels": [[True] * 28] * 28},
        {"pixels": [[0] * 27 + [False]] * 28},
        {"image": []},
        [1, 2, 3],
    ],
)
def test_anything_but_28_rows_of_28_numbers_is_a_422(item):
    with pytest.raises(HTTPException) as caught:
        pixels(item)
    assert caught.value.status_code == 422 and "28 rows of 28" in caught.value.detail
