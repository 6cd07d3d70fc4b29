"""Digits of the kinds MNIST lacks, made from its own training digits and read as a user's image is.

MNIST's digits are all thin pen strokes about 20 pixels tall. Real ones are also written with a
marker (strokes two to three times as wide), kept as the 8x8 block counts of older digit datasets
(a 32x32 bitmap counted in 4x4 blocks, 17 grey levels) or photographed a few pixels tall and blown
up again. Each restyled digit is laid on paper and put through the same `preprocess.to_mnist_array`
as any upload, so the model learns what the reading path makes of such a digit, not an
approximation of it. Made once and cached beside the datasets, like the non-digits.

Only MNIST's training digits are restyled (the held-out part and the test set never are), with
this module's own drawing; no font or stroke source is read. No TensorFlow here.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from PIL import Image

from digitrec.training.negatives import on_paper

__all__ = ["STYLES", "restyle", "training_set"]

STYLES = ("bold", "blocks", "small")
MIX = ("bold", "bold", "blocks", "small")  # bold digits are the furthest from MNIST's: twice as many
BOLD_WIDEN = (0.035, 0.12)  # each side of a stroke grows by this share of the digit's height
SMALL_HEIGHTS = (5, 13)  # pixels tall before being blown up again
# Of the drawing, the mix and the preprocessing that reads them: a cached set is made again when
# it changes.
VERSION = 3


def _written(digit28: np.ndarray, height: int) -> np.ndarray:
    """The digit's ink (float 0-1, light on dark) cropped and scaled to `height` pixels tall."""
    rows, cols = np.flatnonzero(digit28.max(axis=1) > 0), np.flatnonzero(digit28.max(axis=0) > 0)
    crop = digit28[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255.0
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    return np.clip(cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _bold(digit28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Written with a marker: the strokes widened on each side by 3.5-12 % of the height."""
    height = int(rng.integers(60, 140))
    ink = _written(digit28, height)
    grow = max(1, round(height * rng.uniform(*BOLD_WIDEN)))
    ink = np.pad(ink, grow)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    marker = cv2.dilate((ink > 0.5).astype(np.uint8), disk).astype(np.float32)
    return on_paper(cv2.GaussianBlur(marker, (0, 0), max(0.6, grow / 6)), rng)


def _blocks(digit28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Counted as older datasets were: the digit as a 32x32 bitmap (its height filling the frame,
    a pen of random weight), the bitmap's 4x4 blocks counted into 8x8 grey levels, shown enlarged
    as a viewer shows it (in blocks or smoothly), dark on light."""
    ink = _written(digit28, 32)
    if ink.shape[1] > 32:
        ink = cv2.resize(ink, (32, 32), interpolation=cv2.INTER_AREA)
    bitmap = np.zeros((32, 32), np.uint8)
    left = (32 - ink.shape[1]) // 2
    bitmap[:, left : left + ink.shape[1]] = ink > rng.uniform(0.25, 0.6)
    if rng.random() < 0.4:  # a heavier pen
        bitmap = np.asarray(cv2.dilate(bitmap, np.ones((2, 2), np.uint8)), np.uint8)
    levels = bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float32) / 16.0
    side = 8 * int(rng.integers(4, 33))
    smooth = rng.random() < 0.5
    shown = cv2.resize(levels, (side, side), interpolation=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST)
    paper = rng.uniform(0.85, 1.0)
    gray = paper * (1.0 - shown * rng.uniform(0.75, 1.0)) + rng.normal(0, 0.01, shown.shape)
    return Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8))


def _small(digit28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A digit 5-13 pixels tall (a thumbnail, a far photo, a low-DPI scan), blown up again."""
    height = int(rng.integers(60, 120))
    photo = np.asarray(on_paper(_written(digit28, height), rng), np.float32) / 255.0
    factor = rng.uniform(*SMALL_HEIGHTS) / height
    size = (max(2, round(photo.shape[1] * factor)), max(2, round(photo.shape[0] * factor)))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    scale = int(rng.integers(3, 11))
    how = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(3))]
    big = cv2.resize(small, (size[0] * scale, size[1] * scale), interpolation=how)
    if rng.random() < 0.3:  # a soft lens
        big = cv2.GaussianBlur(big, (0, 0), scale / 3)
    big = big + rng.normal(0, 0.02, big.shape)
    return Image.fromarray((np.clip(big, 0, 1) * 255).astype(np.uint8))


DRAW = {"bold": _bold, "blocks": _blocks, "small": _small}


def restyle(digits: np.ndarray, seed: int, mix: tuple[str, ...] = MIX) -> np.ndarray:
    """Each MNIST digit (uint8, (N, 28, 28), light on dark) in the next style of `mix`, read by
    `to_mnist_array`: (N, 28, 28) uint8 arrays as the model sees them. Same seed, same images."""
    from digitrec.reading.preprocess import to_mnist_array

    rng = np.random.default_rng([seed, 29])
    out = np.zeros(digits.shape[:1] + (28, 28), np.uint8)
    for i, digit in enumerate(digits.reshape(-1, 28, 28)):
        if digit.any():  # a blank image (one's own dataset may hold some) stays blank
            out[i] = np.round(to_mnist_array(DRAW[mix[i % len(mix)]](digit, rng)) * 255)
    return out


def training_set(digits: np.ndarray, seed: int, directory=None, log=print) -> np.ndarray:
    """`restyle(digits, seed)`, made once and cached beside the datasets
    (`<data dir>/restyled-v<VERSION>-<count>-<seed>-<digest of the digits>.npz`); the caches of
    older versions are removed when a new one is made."""
    from digitrec.data.datasets import cache_path, cached_images, older_versions

    digest = hashlib.sha256(np.ascontiguousarray(digits).tobytes()).hexdigest()[:12]
    name = f"restyled-v{VERSION}-{len(digits)}-{seed}-{digest}"

    def draw() -> np.ndarray:
        where = cache_path(name, directory)
        log(f"restyling {len(digits)} training digits: bold, block counts, small (once; cached in {where})")
        return restyle(digits, seed)

    return cached_images(name, draw, directory, superseded=older_versions("restyled", VERSION))
