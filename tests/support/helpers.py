"""What many tests share: the repository's root, the tutorial's recipe for the shared runs, the
CLI run as a user runs it, digits drawn without a font, and skips that fail in CI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# The shared runs keep the tutorial's settings, whatever the seed preset's defaults become, so
# that the answers the tests judge do not move with the recipe or the machine's precision.
TUTORIAL = {  # the tutorial's own recipe: its model, no augmentation, no non-digits, batch 64, float32
    "model": "seed_cnn",
    "open_set": 0.0,
    "restyle": 0.0,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "validation_split": 0.1,
    "augment": False,
    "precision": "float32",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, what: str) -> None:
    """Skip when a tool or data source is missing, but fail in CI, where the Makefile installs it."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI (the Makefile should have installed it)")
    pytest.skip(f"{what} is not installed")


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run the real `digitrec` entry point in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "digitrec", *args],
        cwd=cwd or REPO,
        text=True,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def draw_digit(
    text: str = "7",
    size: tuple[int, int] = (300, 220),
    ink: int = 20,
    paper: int = 235,
    width: int = 14,
    mode: str = "L",
):
    """A digit drawn with thick lines, like a marker on paper (no font needed)."""
    from PIL import Image, ImageDraw

    strokes: dict[str, Any] = {
        "1": [[(0.5, 0.15), (0.5, 0.85)]],
        "7": [[(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]],
        "0": "ellipse",
        "4": [[(0.6, 0.85), (0.6, 0.15), (0.3, 0.6), (0.72, 0.6)]],
    }
    image = Image.new(mode, size, paper if mode == "L" else (paper,) * len(mode))
    draw = ImageDraw.Draw(image)
    fill = ink if mode == "L" else (ink,) * len(mode)
    w, h = size
    shape = strokes[text]
    if shape == "ellipse":
        draw.ellipse([0.36 * w, 0.18 * h, 0.64 * w, 0.82 * h], outline=fill, width=width)
    else:
        for line in shape:
            draw.line([(x * w, y * h) for x, y in line], fill=fill, width=width, joint="curve")
    return image


# MNIST's first 20 test digits as uint8 (20, 28, 28), for tests that need real digits without
# loading the dataset (tests/data/test_datasets.py checks that they are MNIST's).
MNIST_FIRST_TEST_DIGITS = Path(__file__).with_name("mnist-test-first-20.npy")


def mnist_first_test_digits():
    import numpy as np

    return np.load(MNIST_FIRST_TEST_DIGITS)


def canvas_seven(points, width: int):
    """A 7 drawn on the web page's 280x280 canvas (black on white): one stroke through `points`."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line(points, fill=0, width=width, joint="curve")
    return image


def corr(a, b) -> float:
    """Pearson correlation of two images' pixels: 1.0 for the same picture."""
    import numpy as np

    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


async def until(condition, seconds: float = 30.0, step: float = 0.02) -> None:
    """Wait, letting the event loop run, until `condition()` holds; fail after `seconds`."""
    for _ in range(int(seconds / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError("timed out")
