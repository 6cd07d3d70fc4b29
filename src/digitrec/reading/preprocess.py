"""Any image of a digit -> the 28x28 MNIST-style array the model expects. No TensorFlow here.

MNIST digits are light strokes on a black background, fitted into a 20x20 box keeping their
aspect ratio, and placed in a 28x28 frame so that their centre of mass is at the centre. A photo
of a digit on paper is none of that: dark ink on light paper, uneven light, any size, anywhere.
`to_mnist_array` closes the gap, in this order:

1. read (path, bytes, PIL image or array; any format Pillow reads), refusing decompression bombs;
2. flatten transparency onto a background that contrasts with the ink, convert to grayscale;
3. decide the polarity from the image itself (the border is paper) and make the ink light;
4. remove the paper's shading (subtract a smooth background estimate) and the noise;
5. crop to the ink, thicken hair-thin strokes, fit into 20x20 keeping the aspect ratio;
6. place by centre of mass in 28x28.

Steps 1-2 live in `images` (reading), 3-4 in `ink` (the ink and its pieces, measured by `shape`),
5-6 here (the MNIST layout); `segment.segment_number` reads a row of digits (a whole number) with the same steps.
Every front end (CLI, GUI, web, batch) calls these functions; none has its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, overload

import cv2
import numpy as np

from digitrec.reading.images import MAX_PIXELS, ImageSource
from digitrec.reading.ink import WORK_SIZE, find_ink, main_cluster, resize
from digitrec.reading.shape import CROSS, at_border, count_holes, ink_box, rough_stroke_width, stroke_width, u8

__all__ = ["MNIST_SIZE", "Preprocessed", "fit_to_mnist", "to_mnist_array"]

MNIST_BOX = 20
MNIST_SIZE = 28

# A single digit in an image over `ink.WORK_SIZE` pixels is first looked for on DIGIT_WORK_SIZE
# (a phone photo's pixel work cut by more than half), which leaves a digit of a normal size a
# hundred pixels or more: plenty for 20x20. A digit under SMALL_DIGIT pixels there (a small digit
# in a big frame) is looked for again on `ink.WORK_SIZE`, where its strokes have the pixels they
# need. Smaller images are worked as they are, and numbers (`segment`) on `ink.WORK_SIZE`.
DIGIT_WORK_SIZE = 320
SMALL_DIGIT = 32

# Ink this faint (a share of the strongest) joins the digit where it touches the ink: the second,
# lower threshold of a hysteresis. Chosen on realistic set 0 among 0.1-0.3 (CHANGELOG).
FAINT_INK = 0.1


@dataclass
class Preprocessed:
    """The model input and, when asked for, what each step made of the image."""

    array: np.ndarray  # (28, 28) float32 in [0, 1], light digit on black
    ink_fraction: float  # share of the working image that is ink (0 for a blank page)
    contrast: float  # ink strength against the paper, 0-1
    components: int  # connected pieces of ink in the whole image
    inverted: bool  # whether the input was dark-on-light
    pieces: int = 1  # connected pieces in the digit itself
    holes: int = 0  # closed loops in the digit (0 has one, 8 two; a grid many)
    steps: dict[str, np.ndarray] = field(default_factory=dict)


def fit_to_mnist(soft: np.ndarray, mask: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Crop `soft` to the ink in `mask`, fit it into 20x20 keeping the aspect, centre by mass in 28x28.
    `other` is ink that is not this digit's (another piece, the next digit of a number)."""
    if not mask.any():
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    top, bottom, left, right = ink_box(mask)
    box = slice(top, bottom), slice(left, right)
    near = _with_faint_ink(mask, soft, box, None if other is None else other[box])
    crop = np.where(near, soft[box], 0.0)
    crop_mask = mask[box]
    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    # MNIST strokes are about 2-3 px wide after the fit; thicken thinner ones before shrinking so
    # that a fine pen in a large photo does not fade away.
    # (The exact width needs a distance transform; skip it when a quick estimate is clearly wide.)
    thin = scale < 1.0 and rough_stroke_width(crop_mask) * scale < 3.0
    width_after = stroke_width(crop_mask) * scale if thin else 3.0
    if width_after < 2.0 and scale < 1.0:
        grow = int(round((2.0 - width_after) / scale / 2))
        if grow >= 1:
            pad = grow + 1
            padded_soft = np.pad(crop, pad)
            padded_mask = np.pad(crop_mask, pad)
            crop = cv2.dilate(padded_soft.astype(np.float32), _disk(grow))
            crop_mask = cv2.dilate(u8(padded_mask), _disk(grow)).view(bool)
            top, bottom, left, right = ink_box(crop_mask)
            crop = crop[top:bottom, left:right]
            h, w = crop.shape
            scale = MNIST_BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = resize(crop, new_w, new_h)
    small = np.minimum(small / max(float(small.max()), 1e-6), 1.0)  # never negative: no floor to clip

    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    top0, left0 = (MNIST_SIZE - new_h) // 2, (MNIST_SIZE - new_w) // 2
    canvas[top0 : top0 + new_h, left0 : left0 + new_w] = small
    cy, cx = _centre_of_mass(canvas)
    dy, dx = int(round(MNIST_SIZE / 2 - 0.5 - cy)), int(round(MNIST_SIZE / 2 - 0.5 - cx))
    # Shift by the centre of mass, but never push ink out of the frame.
    dy = min(max(dy, -top0), MNIST_SIZE - (top0 + new_h))
    dx = min(max(dx, -left0), MNIST_SIZE - (left0 + new_w))
    if dy or dx:
        canvas[:] = 0.0
        canvas[top0 + dy : top0 + dy + new_h, left0 + dx : left0 + dx + new_w] = small
    return canvas


def _with_faint_ink(
    mask: np.ndarray, soft: np.ndarray, box: tuple[slice, slice], other: np.ndarray | None
) -> np.ndarray:
    """In `box` (the digit's), the ink, a one-pixel rim of its soft edge (antialiasing), and the
    faint ink that touches them: the light blocks of a block-counted digit, which the ink
    threshold leaves out and which were cut away, leaving its strokes in fragments. Nothing
    fainter, nothing apart, nothing that reaches `other` ink (in the box): a faint bridge does not
    undo which pieces are the digit. Nor, for a digit clear of the image's border, faint ink that
    reaches the border: the shading of a page's corner or edge, not ink."""
    if not at_border(mask) and at_border(soft, FAINT_INK):
        whole = soft > FAINT_INK
        faint = whole[box] & ~_reaching_the_border(whole, box)
    else:
        faint = soft[box] > FAINT_INK
    count, found = cv2.connectedComponents(u8(faint), connectivity=8, ltype=cv2.CV_32S)
    labels: np.ndarray = np.asarray(found, np.int32)
    near = cv2.dilate(u8(mask[box]), CROSS).view(bool)
    touched = np.zeros(count, bool)
    touched[labels[near]] = True
    if other is not None:
        touched[labels[other]] = False
    touched[0] = False  # not faint ink
    return near | touched.take(labels)


def _reaching_the_border(faint: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """In `box`, the pieces of `faint` (8-connected, over the whole image) that reach its border."""
    count, found = cv2.connectedComponents(u8(faint), connectivity=8, ltype=cv2.CV_32S)
    labels: np.ndarray = np.asarray(found, np.int32)
    reach = np.zeros(count, bool)
    reach[labels[0]] = reach[labels[-1]] = reach[labels[:, 0]] = reach[labels[:, -1]] = True
    reach[0] = False  # not faint ink
    return reach.take(labels[box])


def _longer_side(mask: np.ndarray) -> int:
    """The longer side of the box around a mask's pixels (0 when it has none: OpenCV's box is empty)."""
    top, bottom, left, right = ink_box(mask)
    return max(bottom - top, right - left)


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = float(a.sum())
    return (float(a.sum(axis=1) @ np.arange(a.shape[0])) / total, float(a.sum(axis=0) @ np.arange(a.shape[1])) / total)


@overload
def to_mnist_array(
    source: ImageSource, return_steps: Literal[False] = False, max_pixels: int = ..., images: bool = ...
) -> np.ndarray: ...


@overload
def to_mnist_array(
    source: ImageSource, return_steps: Literal[True], max_pixels: int = ..., images: bool = ...
) -> Preprocessed: ...


def to_mnist_array(
    source: ImageSource, return_steps: bool = False, max_pixels: int = MAX_PIXELS, images: bool = True
) -> np.ndarray | Preprocessed:
    """Turn any image of one digit into a (28, 28) float32 array in [0, 1], MNIST-style.

    Args:
      source: a path, encoded bytes, a PIL image or an array (HxW, HxWx3, HxWx4; uint8, uint16,
        float 0-1, bool).
      return_steps: return a `Preprocessed` with the intermediate images and the ink measures
        (used for "no digit" decisions and for showing what happened) instead of the bare array.
      max_pixels: refuse larger images (from the header, before decoding).
      images: with `return_steps`, whether `steps` keeps the intermediate images (four copies of
        the working image); False keeps the measures only, as a service needs.

    Raises:
      ImageError: the input is not a readable image.
    """
    ink = find_ink(source, return_steps and images, max_pixels, DIGIT_WORK_SIZE)
    digit, components, pieces = main_cluster(ink.mask, ink.pieces, ink.ids)
    # Shrunk to DIGIT_WORK_SIZE (or exactly that size already: a second look then finds the same).
    if max(digit.shape) == DIGIT_WORK_SIZE and _longer_side(digit) < SMALL_DIGIT:
        ink = find_ink(source, return_steps and images, max_pixels, WORK_SIZE)
        digit, components, pieces = main_cluster(ink.mask, ink.pieces, ink.ids)
    components += ink.shading
    # Other ink: pieces not the digit's (kept or dropped); none when every piece is the digit's.
    other = (ink.pieces.labels > 0) & ~digit if ink.pieces.count > pieces else None
    array = fit_to_mnist(ink.flat, digit, other)
    if not return_steps:
        return array
    if images:
        ink.steps["mnist"] = array
    return Preprocessed(
        array,
        np.count_nonzero(ink.mask) / ink.mask.size,
        ink.contrast,
        components,
        ink.inverted,
        steps=ink.steps,
        pieces=pieces,
        holes=count_holes(digit),
    )
