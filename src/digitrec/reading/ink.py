"""Ink: steps 2-4 of the preprocessing, from a grayscale image to the ink on it.

Flatten transparency, shrink to a working size, decide the polarity from the border (which is
paper) and make the ink light, remove the paper's shading, and label the ink's connected pieces
(telling a pen's strokes from a shadow's soft edge); then which of them are the digit (the main
cluster). The measures of a mask (box, pieces, holes, stroke width) are `shape`'s. No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from digitrec.reading.images import MAX_PIXELS, ImageSource, load_image_sized, to_grayscale
from digitrec.reading.shape import SQUARE, Pieces, at_border, u8

# Work on at most this many pixels on the longer side: plenty for a 20x20 result.
WORK_SIZE = 512

# Ink weaker than this against the paper is shading or noise, not writing (measured on the
# realistic set: blank pages reach 0.12, pencil starts at 0.30).
MIN_CONTRAST = 0.18

# Ink pixels at this share of the strongest ink are "strong": a pen stroke is mostly strong, the
# soft edge of a shadow or of a page corner hardly at all.
STRONG_INK = 0.6
# Weak ink this many pixels from strong ink is a stroke's soft edge, not shading.
STROKE_RIM = 2
# Shading fills this share of its box at least, and lies beside the strokes along less than this
# share of its edge (chosen on realistic set 0: page corners 0-0.13, faint blocks 0.33-0.45).
SOLID_SHADING = 0.4
SHADING_CONTACT = 0.2

# ---------------------------------------------------------------- image primitives (OpenCV)
# OpenCV does the pixel work: a few microseconds of overhead a call, where scipy and Pillow cost tens.


def single_threaded() -> None:
    """Make OpenCV work on the calling thread only, for the whole process (a service's workers, a
    batch call it once): on images this small its threads bring no speed, and their waiting costs
    CPU (measured: 3.7 ms per load-test upload either way, but 4.6 ms of CPU against 3.6)."""
    cv2.setNumThreads(0)


def resize(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float32 image: when shrinking, the mean of the pixels whose centres fall in each
    target pixel (Pillow's BOX: OpenCV's INTER_AREA weighs partly covered pixels, and gives other
    arrays than every figure was measured with); when enlarging, OpenCV's bilinear (Pillow's values)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if width <= a.shape[1] and height <= a.shape[0]:
        return np.asarray(Image.fromarray(a).resize((width, height), Image.Resampling.BOX), np.float32)
    return cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)


def _opening(a: np.ndarray, size: int) -> np.ndarray:
    """Grey opening with a size x size square (the image's own pixels at the border). An even
    square has no centre: the dilation uses the mirrored window, so nothing shifts."""
    kernel = np.ones((size, size), np.uint8)
    back = size - 1 - size // 2
    return cv2.dilate(cv2.erode(a, kernel), kernel, anchor=(back, back))


def _flatten_alpha(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite transparent pixels onto a background that contrasts with the opaque ones."""
    if alpha is None or alpha.min() >= 0.999:
        return gray
    opaque = alpha > 0.5
    ink_is_dark = gray[opaque].mean() < 0.5 if opaque.any() else True
    background = 1.0 if ink_is_dark else 0.0
    return gray * alpha + background * (1.0 - alpha)


def _shrink(gray: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    h, w = gray.shape
    scale = size / max(h, w)
    if scale >= 1.0:
        return gray
    return resize(gray, max(1, round(w * scale)), max(1, round(h * scale)))


def _median(a: np.ndarray) -> float:
    """np.median of a float32 array of values >= 0, the same value: for an even count, numpy
    partitions around both middle values, which costs ten times one; the lower is the largest
    value below the upper."""
    values = a.ravel()
    k = values.size // 2
    # Clean paper, ink 0 throughout (a drawing's thumbnail), is most of the values, which
    # np.partition sorts out slowly: with more than half of them 0, the lowest, the median is 0.
    if values.size - cv2.countNonZero(values) > k:
        return 0.0
    even = values.size % 2 == 0
    if values.size < BUCKETED_MEDIAN:
        part = np.partition(values, k)
        upper, lower = part[k], part[:k].max() if even else None
    else:
        upper, lower = _bucketed(values, k, even)
    if lower is None:
        return float(upper)
    return float((lower + upper) / np.float32(2))  # in float32, as numpy's mean of the two


# From this many values on, the median's two middle values are picked out of the few values in
# their 8-bit level (a photo's border, 13,000-31,000 values: 3x faster than partitioning them all).
BUCKETED_MEDIAN = 4096


def _bucketed(values: np.ndarray, k: int, lower: bool) -> tuple[np.float32, np.float32 | None]:
    """The k-th and, with `lower`, the (k-1)-th smallest of `values` (float32, >= 0; ranks from
    0), exactly: each value's 8-bit level (rounded and capped, so that a larger value never has a
    lower level) is counted, and only the values of the level that holds each rank are partitioned."""
    levels = cv2.convertScaleAbs(values.reshape(1, -1), alpha=255.0)
    counts = cv2.calcHist([levels], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    below = np.cumsum(counts) - counts  # values in lower levels
    levels = levels.ravel()

    def kth(rank: int) -> np.float32:
        level = int(np.searchsorted(below, rank, side="right")) - 1
        inside, within = values[levels == level], rank - int(below[level])
        low, high = cv2.minMaxLoc(inside)[:2]
        if low == high:  # one value throughout (clean paper): nothing to partition
            return np.float32(low)
        return np.partition(inside, within)[within]

    return kth(k), kth(k - 1) if lower else None


def _ink_up(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make the ink light on a dark background, deciding from the border (which is paper)."""
    h, w = gray.shape
    band = max(1, min(h, w) // 20)
    border = np.concatenate(
        [gray[:band].ravel(), gray[-band:].ravel(), gray[:, :band].ravel(), gray[:, -band:].ravel()]
    )
    paper = _median(border)
    if abs(paper - 0.5) < 0.1:  # an ambiguous border: the bulk of the image is the paper
        paper = _median(gray)
    inverted = paper > 0.5
    return (1.0 - gray if inverted else gray), inverted


def _remove_background(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """Subtract a smooth estimate of the paper (uneven light, shadows, tint), then stretch: the
    flattened ink in [0, 1], and the ink's contrast against the paper before the stretch (about
    0.3 for pencil, 0.8 for a pen, under 0.13 for a blank page's shading and noise)."""
    # Estimate the lighting on a 64-pixel thumbnail with a grey opening a third of its size (fine
    # enough for light that changes across the page) and, where there is ink, wider than the
    # widest stroke: a narrower one takes a marker stroke's middle for paper and hollows the digit
    # out. (Not on a blank page: its shading would pass for a stroke as wide as the page.)
    small = _shrink(ink, 64)
    size = max(3, max(small.shape) // 3)
    flat, peak, clean = _flattened(ink, small, size)
    # On clean paper a wider opening finds no paper either (it is never above a narrower one).
    if peak >= MIN_CONTRAST and not clean and (widest := _widest_stroke(small)) + 2 > size:
        flat, peak, _ = _flattened(ink, small, min(widest + 2, max(small.shape)))
    if peak < MIN_CONTRAST:
        return np.zeros_like(flat), peak
    np.divide(flat, np.float32(peak), out=flat)  # >= 0 already: only the top needs a cap
    return np.minimum(flat, 1.0, out=flat), peak


def _flattened(ink: np.ndarray, small: np.ndarray, size: int) -> tuple[np.ndarray, float, bool]:
    """The ink less the background a grey opening of `size` on the thumbnail estimates, the
    ink's strength (the brightest 2x2 block, so one hot pixel does not count: a percentile would
    miss a small digit in a big frame, whose ink is under 0.1 % of the pixels), and whether the
    opening found clean paper (nothing taken away)."""
    h, w = ink.shape
    opened = _opening(small, size)
    if not cv2.countNonZero(opened):  # clean paper (a drawing, a scan on white): no background to take away
        return ink.copy(), _block_peak(ink), True
    blur = max(3, size // 2)
    background = cv2.blur(opened, (blur, blur), borderType=cv2.BORDER_REFLECT)
    if background.shape != ink.shape:
        background = resize(background, w, h)
    flat = ink - background  # float32, both
    np.maximum(flat, 0.0, out=flat)
    return flat, _block_peak(flat), False


def _widest_stroke(small: np.ndarray) -> int:
    """The widest stroke of strong ink (half way from paper to the brightest ink), in pixels."""
    paper, top = _median(small), float(small.max())
    strong = u8(small > paper + 0.5 * (top - paper))
    return int(2 * cv2.distanceTransform(strong, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).max())


def _block_peak(a: np.ndarray) -> float:
    """The largest mean over 2x2 blocks (the whole array when it is smaller)."""
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return float(a.mean()) if a.size else 0.0
    # Four strided sums: several times faster than a mean over a reshaped view's axes.
    blocks = a[0:h:2, 0:w:2] + a[1:h:2, 0:w:2] + a[0:h:2, 1:w:2] + a[1:h:2, 1:w:2]
    return float(blocks.max()) / 4.0


def _otsu(values: np.ndarray) -> float:
    bins = 64
    index = (values * np.float32(bins)).astype(np.uint8)  # 0..bins: values are in [0, 1]
    # OpenCV counts uint8 (np.bincount widens each to 64 bits); adds to one bin wait on each other,
    # so the paper (0) is counted apart, 5x faster. A 1 lands in one bin more, added to the top one.
    ink = index[index != 0]
    hist = cv2.calcHist([ink], [0], None, [bins + 1], [0, bins + 1]).ravel().astype(np.int64)
    hist[0], hist[bins - 1] = index.size - ink.size, hist[bins - 1] + hist[bins]
    hist = hist[:bins]
    centers = (np.arange(bins) + 0.5) / bins
    weight = np.cumsum(hist)
    total = weight[-1]
    if total == 0:
        return 0.5
    mean = np.cumsum(hist * centers)
    between = (mean[-1] * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1e-12)
    return float(centers[int(np.argmax(between[:-1]))]) if len(between) > 1 else 0.5


def _cut_border_shading(mask: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """The mask less the shading a digit touches (cleared from `flat` too): the table beyond a
    tilted page, a shadow's edge. Written close to it, a digit and the band were one piece (a 3
    closed into an 8 by the corner beside it). Shading is weak ink away from every stroke that
    reaches the border, at least as much as the strong ink, solid, and beside the strokes along
    little of its edge (a block-counted digit's faint blocks ring its strokes)."""
    h, w = mask.shape
    if not at_border(mask):
        return mask
    strong = u8(flat > STRONG_INK)
    strokes = cv2.countNonZero(strong)
    if strokes == 0:
        return mask
    near_strokes = cv2.dilate(strong, SQUARE, iterations=STROKE_RIM)
    weak = Pieces.of(mask & (near_strokes == 0))
    x, y, bw, bh, size = weak.stats.T
    on_border = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    candidates = np.flatnonzero(on_border & (size >= strokes) & (size >= SOLID_SHADING * bw * bh)) + 1
    if not candidates.size:
        return mask
    beside = cv2.dilate(near_strokes, SQUARE).view(bool)
    shading = []
    for label in candidates:  # rare: whole-image arrays, so that the image's border is no edge
        piece = weak.labels == label
        edge = piece & (cv2.erode(u8(piece), SQUARE, borderType=cv2.BORDER_REPLICATE) == 0)
        if (edge & beside).sum() < SHADING_CONTACT * edge.sum():
            shading.append(label)
    if not shading:
        return mask
    cut = weak.select(shading)
    flat[cut] = 0.0  # not ink: nothing of it comes back as the digit's faint edge
    return mask & ~cut


def _label_ink(flat: np.ndarray) -> tuple[np.ndarray, Pieces, np.ndarray, int]:
    """Ink mask, its pieces, the labels of those kept (specks and shading dropped), and how many
    pieces were dropped as shading (they still count as marks on the page)."""
    threshold = max(0.25, _otsu(flat))
    mask = _cut_border_shading(flat > threshold, flat)
    pieces = Pieces.of(mask)
    count = pieces.count
    keep = np.ones(count, bool)
    shading = 0
    if count > 1:
        sizes = pieces.sizes
        keep = sizes >= max(4, 0.02 * sizes.max())
        # Shading is not ink: a piece with hardly any strong pixels, beside pieces that are mostly
        # strong, is the soft edge of a shadow or a page corner (the background estimate dips
        # next to anything darker than the paper), however large it is.
        strong = np.bincount(pieces.labels[flat > STRONG_INK], minlength=count + 1)[1:] / np.maximum(sizes, 1)
        if (strong[keep] >= 0.3).any():
            shading = int((keep & (strong < 0.08)).sum())
            keep &= strong >= 0.08
    ids = np.flatnonzero(keep) + 1
    if len(ids) < count:
        mask = pieces.select(ids)
    return mask, pieces, ids, shading


# How far (a share of the digit's box side) another piece may lie from the digit's box and still
# join it: a small speck, and a piece as big as a stroke (at least STROKE_SHARE of the main one's ink).
JOIN_SPECK = 0.3
JOIN_STROKE = 0.8
STROKE_SHARE = 0.25
# A piece along the border between these shares of the largest piece inside is one of the digit's strokes.
EDGE_STROKE = (0.5, 2.0)


def main_cluster(mask: np.ndarray, pieces: Pieces, ids: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The digit's ink, the number of pieces of ink in all, and how many of them are the digit's.

    `pieces` are the connected pieces of `mask`; `ids` are the labels that are ink (others were specks)."""
    count = len(ids)
    if count <= 1:
        return mask, count, count
    labels = pieces.labels
    boxes = [pieces.box(i) for i in ids]
    sizes = pieces.sizes[ids - 1]
    h, w = mask.shape
    keep = np.zeros(count, bool)
    edge_like = np.zeros(count, bool)  # long, thin and touching the border: a page edge, or a 1 at the edge
    for i, (rows, cols) in enumerate(boxes):
        keep[i] = not _hugs_border(labels[rows, cols] == ids[i], rows, cols, h, w)
        bh, bw = rows.stop - rows.start, cols.stop - cols.start
        on_border = rows.start == 0 or cols.start == 0 or rows.stop == h or cols.stop == w
        edge_like[i] = on_border and max(bh, bw) >= 3 * max(1, min(bh, bw))
    if not keep.any():
        return mask, count, count
    # A digit that fills its frame (a block-counted 7) meets the border with whole strokes: a
    # piece along the border about as big as the largest piece inside is a stroke, not an edge,
    # and then no piece at the border is an edge.
    inside = sizes[keep].max()
    stroke = ~keep & (sizes >= EDGE_STROKE[0] * inside) & (sizes <= EDGE_STROKE[1] * inside)
    if stroke.any():
        keep |= stroke
        edge_like[:] = False
    main = int(np.argmax(np.where(keep, sizes, -1)))
    inner = keep & ~edge_like
    if edge_like[main] and inner.any() and sizes[inner].max() >= 0.05 * sizes[main]:
        main = int(np.argmax(np.where(inner, sizes, -1)))  # a real piece of writing beats an edge
    if not edge_like[main]:
        # No edge joins the digit; but a piece at the border half as big as the digit or more is a
        # stroke of it (a 5's bar drawn to the frame's edge, apart from its body).
        keep &= ~(edge_like & (sizes < EDGE_STROKE[0] * sizes[main]))
    top, bottom = boxes[main][0].start, boxes[main][0].stop
    left, right = boxes[main][1].start, boxes[main][1].stop
    chosen = {main}
    for _ in range(3):  # grow the digit's box by the pieces close to it, a few times
        side = max(bottom - top, right - left)
        for i, (rows, cols) in enumerate(boxes):
            if i in chosen or not keep[i]:
                continue
            # A speck joins only close by; a stroke of its own (as the two strokes of ハ or a 4
            # written in two) from further away.
            margin = (JOIN_STROKE if sizes[i] >= STROKE_SHARE * sizes[main] else JOIN_SPECK) * side
            if (
                rows.start < bottom + margin
                and rows.stop > top - margin
                and cols.start < right + margin
                and cols.stop > left - margin
            ):
                chosen.add(i)
                top, bottom = min(top, rows.start), max(bottom, rows.stop)
                left, right = min(left, cols.start), max(right, cols.stop)
    return pieces.select(ids[sorted(chosen)]), count, len(chosen)


def _hugs_border(piece: np.ndarray, rows: slice, cols: slice, h: int, w: int) -> bool:
    """Whether a piece of ink (its box cut out of the image) is an edge along the border: a page
    edge, a table, a shadow. Such a piece is long and thin, and lies along the border for more
    than half its length; a digit that touches the border meets it only at its tip."""
    bh, bw = piece.shape
    if max(bh, bw) < 3 * max(1, min(bh, bw)):
        return False
    along = 0
    if rows.start == 0:
        along = max(along, int(piece[0].sum()))
    if rows.stop == h:
        along = max(along, int(piece[-1].sum()))
    if cols.start == 0:
        along = max(along, int(piece[:, 0].sum()))
    if cols.stop == w:
        along = max(along, int(piece[:, -1].sum()))
    return along > 0.5 * max(bh, bw)


@dataclass
class Ink:
    """Steps 1-4, shared by single digits and numbers: the ink found in one image."""

    flat: np.ndarray  # the ink image, light on dark, background removed
    mask: np.ndarray  # which pixels are ink
    pieces: Pieces  # the mask's connected pieces
    ids: np.ndarray  # the ids of the pieces that are ink (not shading)
    shading: int  # how many pieces were dropped as shading
    inverted: bool  # the image was dark on light
    contrast: float
    steps: dict[str, np.ndarray]  # the intermediate images, if asked for


def find_ink(source: ImageSource, keep_steps: bool, max_pixels: int = MAX_PIXELS, work_size: int = WORK_SIZE) -> Ink:
    """Steps 1-4 for digits and numbers (and steps' images); an image over WORK_SIZE px on `work_size`."""
    image, longer = load_image_sized(source, max_pixels, draft=work_size, gray=True)
    gray, alpha = to_grayscale(image)
    steps: dict[str, np.ndarray] = {}
    gray = _flatten_alpha(gray, alpha)
    gray = _shrink(gray, work_size) if longer > WORK_SIZE else gray
    if keep_steps:
        steps["grayscale"] = gray.copy()
    ink, inverted = _ink_up(gray)
    if keep_steps:
        steps["ink_light"] = ink.copy()
    flat, contrast = _remove_background(ink)
    if keep_steps:
        steps["background_removed"] = flat.copy()
    mask, pieces, ids, shading = _label_ink(flat)
    if keep_steps:
        steps["ink_mask"] = mask.astype(np.float32)
    return Ink(flat, mask, pieces, ids, shading, inverted, contrast, steps)
