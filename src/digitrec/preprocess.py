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

`segment_number` reads a row of digits (a whole number) with the same steps, into candidate digits.
Every front end (CLI, GUI, web, batch) calls these functions; none has its own copy.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import DigitrecError

ImageSource = str | os.PathLike | bytes | bytearray | Image.Image | np.ndarray

# A 20,000 x 20,000 image is 400 M pixels: far beyond any photo of a digit. Refuse it before
# decoding (Pillow reads the size from the header), so a small file cannot exhaust memory.
MAX_PIXELS = 40_000_000
# Work on at most this many pixels on the longer side: plenty for a 20x20 result.
WORK_SIZE = 512

# Ink weaker than this against the paper is shading or noise, not writing (measured on the
# realistic set: blank pages reach 0.12, pencil starts at 0.30).
MIN_CONTRAST = 0.18

# Ink pixels at this share of the strongest ink are "strong": a pen stroke is mostly strong, the
# soft edge of a shadow or of a page corner hardly at all.
STRONG_INK = 0.6

MNIST_BOX = 20
MNIST_SIZE = 28


class ImageError(DigitrecError):
    """An input that is not a readable image (missing, not an image, truncated, too large)."""


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


# ---------------------------------------------------------------- reading


def load_image(
    source: ImageSource, max_pixels: int = MAX_PIXELS, draft: int | None = None, gray: bool = False
) -> Image.Image:
    """Open any supported input as a decoded PIL image, with one clear error when it cannot be.

    Images of more than `max_pixels` pixels are refused from their header, before decoding.
    With `draft`, a JPEG at least twice that size on its longer side is decoded at a half, a
    quarter or an eighth of its size (libjpeg scales while decoding, several times faster than
    decoding it whole), never below `draft` pixels on that side. With `gray`, a colour JPEG is
    decoded to its luminance channel only, in half the time: the values of converting the colour
    image to "L" but for rounding and for saturated colours, which decoding to RGB clips (every
    figure of the realistic benchmark is the same either way).
    """
    if isinstance(source, Image.Image):
        if source.width * source.height > max_pixels:
            raise ImageError(f"a {source.width}x{source.height} image is too large (limit {max_pixels:,} pixels)")
        return source
    if isinstance(source, np.ndarray):
        return _array_to_image(source, max_pixels)
    stream: io.BytesIO | Path
    if isinstance(source, (bytes, bytearray)):
        stream, name = io.BytesIO(bytes(source)), "the image data"
    else:
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image")
        stream, name = path, str(path)
    try:
        with Image.open(stream) as image:
            if image.width * image.height > max_pixels:
                raise ImageError(f"{name}: {image.width}x{image.height} pixels is too large (limit {max_pixels:,})")
            image.seek(0)  # the first frame of a GIF/TIFF/WebP animation
            longer = max(image.size)
            if image.format == "JPEG" and ((draft and longer >= 2 * draft) or (gray and image.mode == "RGB")):
                size = image.size
                if draft and longer >= 2 * draft:
                    size = (-(-image.width * draft // longer), -(-image.height * draft // longer))
                image.draft("L" if gray and image.mode == "RGB" else image.mode, size)
            image.load()
            # Phone photos carry their rotation in EXIF. The answer is a copy either way, free of the file.
            turned = ImageOps.exif_transpose(image)
            return turned if turned is not None else image.copy()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels to decode safely (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise ImageError(
            f"{name}: broken or truncated image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


def _array_to_image(array: np.ndarray, max_pixels: int = MAX_PIXELS) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise ImageError(f"an array of shape {a.shape} is not an image (need HxW, HxWx1, HxWx3 or HxWx4)")
    if a.shape[0] * a.shape[1] > max_pixels:
        raise ImageError(f"an array of {a.shape[0]}x{a.shape[1]} pixels is too large (limit {max_pixels:,})")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("the image array holds NaN or infinity")
        peak = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        a = np.clip(a / peak * 255.0, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        peak = 255 if a.max(initial=0) <= 255 else 65535
        a = (np.clip(a, 0, peak).astype(np.float64) / peak * 255).astype(np.uint8)
    return Image.fromarray(a)


_LEVELS = np.arange(256, dtype=np.float32) / 255.0


def to_grayscale(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] as float32, and the alpha channel in [0, 1] if the image has one."""
    alpha = None
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        gray: np.ndarray = np.clip(values / peak, 0, 1).astype(np.float32)
    elif image.mode == "1":
        gray = np.asarray(image, dtype=np.float32)
    else:
        levels = np.asarray(image if image.mode == "L" else image.convert("L"))
        gray = cv2.LUT(levels, _LEVELS)  # float32(v) / 255 for each of the 256 levels, in one pass
    return gray, alpha


# ---------------------------------------------------------------- image primitives (OpenCV)
# OpenCV does the pixel work: each call is a few microseconds of overhead where scipy.ndimage
# and Pillow round trips cost tens, and the web service spends most of its time here.

# The images here are small: OpenCV's worker threads bring no speed, and their waiting costs CPU
# (measured: the same 3.7 ms per load-test upload either way, but 4.6 ms of CPU with its
# default threads against 3.6 without), which a busy server's other requests need.
cv2.setNumThreads(0)

_SQUARE = np.ones((3, 3), np.uint8)  # 8-connected neighbourhood
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-connected


def _u8(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as the contiguous 0/1 uint8 image OpenCV takes."""
    return np.ascontiguousarray(mask).view(np.uint8)


def _ink_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """top, bottom, left, right (exclusive) of a non-empty mask's pixels, by OpenCV in one pass
    (the rows and columns that hold any, without two passes of numpy's `any`)."""
    x, y, w, h = cv2.boundingRect(_u8(mask))
    return y, y + h, x, x + w


def _resize(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float32 image: the mean of the pixels whose centres fall in each target pixel
    when shrinking (Pillow's BOX; OpenCV's INTER_AREA weighs partly covered pixels instead, and
    gives other arrays than the ones every figure was measured with), bilinear when enlarging
    (OpenCV's, the same values as Pillow's)."""
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


@dataclass
class _Pieces:
    """The connected pieces of a mask: `labels` numbers them 1..count (0 is the background);
    `stats` has one row per piece: x, y, width, height, area."""

    labels: np.ndarray
    stats: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, connectivity: int = 8, boxes: bool = True) -> _Pieces:
        """Label the pieces of `mask` (8- or 4-connected); without `boxes`, only their sizes."""
        image = _u8(mask)
        n, labels = cv2.connectedComponents(image, connectivity=connectivity, ltype=cv2.CV_32S)
        stats = np.zeros((n - 1, 5), np.int64)
        if n == 2:  # one piece, as most digits are: its box and size without sorting pixels
            stats[0, :4] = cv2.boundingRect(image)
            stats[0, 4] = cv2.countNonZero(image)
        elif n > 1 and not boxes:
            stats[:, 4] = np.bincount(labels.ravel(), minlength=n)[1:]
        elif n > 1:
            # OpenCV's own statistics take several times longer than the labelling: take the
            # boxes and areas from the labelled pixels, sorted by label.
            xy = cv2.findNonZero(image).reshape(-1, 2)
            ids = labels[xy[:, 1], xy[:, 0]]
            order = np.argsort(ids, kind="stable")
            xs, ys = xy[order, 0], xy[order, 1]
            area = np.bincount(ids, minlength=n)[1:]
            starts = np.concatenate(([0], np.cumsum(area)[:-1]))
            top, left = np.minimum.reduceat(ys, starts), np.minimum.reduceat(xs, starts)
            stats[:, 0], stats[:, 1] = left, top
            stats[:, 2] = np.maximum.reduceat(xs, starts) + 1 - left
            stats[:, 3] = np.maximum.reduceat(ys, starts) + 1 - top
            stats[:, 4] = area
        return cls(labels, stats)

    @property
    def count(self) -> int:
        return len(self.stats)

    @property
    def sizes(self) -> np.ndarray:
        return self.stats[:, cv2.CC_STAT_AREA]

    def box(self, label: int) -> tuple[slice, slice]:
        x, y, w, h = self.stats[label - 1, :4]
        return slice(int(y), int(y + h)), slice(int(x), int(x + w))

    def select(self, ids) -> np.ndarray:
        """The mask of the pieces with these labels."""
        chosen = np.zeros(self.count + 1, bool)
        chosen[np.asarray(ids, dtype=np.int64)] = True
        return chosen[self.labels]


# ---------------------------------------------------------------- the pipeline


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
    return _resize(gray, max(1, round(w * scale)), max(1, round(h * scale)))


def _ink_up(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make the ink light on a dark background, deciding from the border (which is paper)."""
    h, w = gray.shape
    band = max(1, min(h, w) // 20)
    border = np.concatenate(
        [gray[:band].ravel(), gray[-band:].ravel(), gray[:, :band].ravel(), gray[:, -band:].ravel()]
    )
    paper = float(np.median(border))
    if abs(paper - 0.5) < 0.1:  # an ambiguous border: the bulk of the image is the paper
        paper = float(np.median(gray))
    inverted = paper > 0.5
    return (1.0 - gray if inverted else gray), inverted


def _remove_background(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """Subtract a smooth estimate of the paper (uneven light, shadows, tint), then stretch.

    Returns the flattened ink in [0, 1] and the ink's contrast against the paper before the
    stretch (about 0.3 for pencil, 0.8 for a pen, under 0.13 for a blank page's shading and noise).
    """
    h, w = ink.shape
    # Estimate the lighting on a 64-pixel thumbnail with a grey opening a third of its size:
    # wider than any stroke (so even a thick marker digit is not hollowed out), and fine enough
    # for light that changes across the page.
    small = _shrink(ink, 64)
    size = max(3, max(small.shape) // 3)
    blur = max(3, size // 2)
    background = cv2.blur(_opening(small, size), (blur, blur), borderType=cv2.BORDER_REFLECT)
    if background.shape != ink.shape:
        background = _resize(background, w, h)
    flat = ink - background  # float32, both
    np.maximum(flat, 0.0, out=flat)
    # The ink's strength: the brightest 2x2 block, so one hot pixel does not count. (A percentile
    # would miss a small digit in a big frame, whose ink is under 0.1 % of the pixels.)
    peak = _block_peak(flat)
    if peak < MIN_CONTRAST:
        return np.zeros_like(flat), peak
    np.divide(flat, np.float32(peak), out=flat)  # >= 0 already: only the top needs a cap
    return np.minimum(flat, 1.0, out=flat), peak


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
    # OpenCV counts uint8 directly (np.bincount would first widen every pixel to 64 bits); a
    # value of exactly 1 lands in one bin more, added to the top one (cheaper than capping).
    hist = cv2.calcHist([index], [0], None, [bins + 1], [0, bins + 1]).ravel().astype(np.int64)
    hist[bins - 1] += hist[bins]
    hist = hist[:bins]
    centers = (np.arange(bins) + 0.5) / bins
    weight = np.cumsum(hist)
    total = weight[-1]
    if total == 0:
        return 0.5
    mean = np.cumsum(hist * centers)
    between = (mean[-1] * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1e-12)
    return float(centers[int(np.argmax(between[:-1]))]) if len(between) > 1 else 0.5


def _label_ink(flat: np.ndarray) -> tuple[np.ndarray, _Pieces, np.ndarray, int]:
    """Ink mask, its pieces, the labels of those kept (specks and shading dropped), and how many
    pieces were dropped as shading (they still count as marks on the page)."""
    threshold = max(0.25, _otsu(flat))
    mask = flat > threshold
    pieces = _Pieces.of(mask)
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


def _main_cluster(mask: np.ndarray, pieces: _Pieces, ids: np.ndarray) -> tuple[np.ndarray, int, int]:
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
    main = int(np.argmax(np.where(keep, sizes, -1)))
    inner = keep & ~edge_like
    if edge_like[main] and inner.any() and sizes[inner].max() >= 0.05 * sizes[main]:
        main = int(np.argmax(np.where(inner, sizes, -1)))  # a real piece of writing beats an edge
    if not edge_like[main]:
        keep &= ~edge_like  # and no edge joins the digit
    top, bottom = boxes[main][0].start, boxes[main][0].stop
    left, right = boxes[main][1].start, boxes[main][1].stop
    chosen = {main}
    for _ in range(3):  # grow the digit's box by the pieces close to it, a few times
        margin = 0.3 * max(bottom - top, right - left)
        for i, (rows, cols) in enumerate(boxes):
            if i in chosen or not keep[i]:
                continue
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


def count_holes(mask: np.ndarray) -> int:
    """Closed loops in the ink: background regions it encloses, ignoring pin-holes in thick strokes."""
    if not mask.any():
        return 0
    top, bottom, left, right = _ink_box(mask)
    box = np.pad(mask[top:bottom, left:right], 1)
    background = _Pieces.of(~box, connectivity=4, boxes=False)
    if background.count <= 1:
        return 0
    sizes = np.delete(background.sizes, background.labels[0, 0] - 1)  # the piece at the corner is the outside
    return int((sizes >= 0.003 * box.size).sum())


def _stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the median distance from the stroke's middle to its edge."""
    if not mask.any():
        return 0.0
    if mask.all():  # a solid bar fills its own box: as wide as the box's short side
        return float(min(mask.shape))
    distance = cv2.distanceTransform(_u8(mask), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # The exact distances are square roots of whole numbers; OpenCV's come with a rounding error
    # that varies from call to call (opencv/opencv#24082), enough to change which pixels tie
    # for the ridge. Rounded squares are exact, so the answer is the same every time.
    squared = np.rint(distance * distance)
    ridge = squared[(squared >= cv2.dilate(squared, _SQUARE)) & mask]
    return float(2 * np.median(np.sqrt(ridge.astype(np.float64)))) if ridge.size else 1.0


def _rough_stroke_width(mask: np.ndarray) -> float:
    """A quick lower estimate of the stroke width: twice the area over the edge's length (a
    stroke w wide and L long has w*L pixels and about 2L edge pixels)."""
    edge = mask & (cv2.erode(_u8(mask), _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0)
    return 2.0 * float(mask.sum()) / max(1.0, float(edge.sum()))


def fit_to_mnist(soft: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Crop `soft` to the ink in `mask`, fit it into 20x20 keeping the aspect, centre by mass in 28x28."""
    if not mask.any():
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    top, bottom, left, right = _ink_box(mask)
    # The ink and a one-pixel rim of its soft edge (antialiasing), nothing else.
    near = cv2.dilate(_u8(mask[top:bottom, left:right]), _CROSS).view(bool)
    crop = np.where(near, soft[top:bottom, left:right], 0.0)
    crop_mask = mask[top:bottom, left:right]
    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    # MNIST strokes are about 2-3 px wide after the fit; thicken thinner ones before shrinking so
    # that a fine pen in a large photo does not fade away.
    # (The exact width needs a distance transform; skip it when a quick estimate is clearly wide.)
    thin = scale < 1.0 and _rough_stroke_width(crop_mask) * scale < 3.0
    width_after = _stroke_width(crop_mask) * scale if thin else 3.0
    if width_after < 2.0 and scale < 1.0:
        grow = int(round((2.0 - width_after) / scale / 2))
        if grow >= 1:
            pad = grow + 1
            padded_soft = np.pad(crop, pad)
            padded_mask = np.pad(crop_mask, pad)
            crop = cv2.dilate(padded_soft.astype(np.float32), _disk(grow))
            crop_mask = cv2.dilate(_u8(padded_mask), _disk(grow)).view(bool)
            top, bottom, left, right = _ink_box(crop_mask)
            crop = crop[top:bottom, left:right]
            h, w = crop.shape
            scale = MNIST_BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = _resize(crop, new_w, new_h)
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


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = float(a.sum())
    return (float(a.sum(axis=1) @ np.arange(a.shape[0])) / total, float(a.sum(axis=0) @ np.arange(a.shape[1])) / total)


@dataclass
class _Ink:
    """Steps 1-4, shared by single digits and numbers: the ink found in one image."""

    flat: np.ndarray  # the ink image, light on dark, background removed
    mask: np.ndarray  # which pixels are ink
    pieces: _Pieces  # the mask's connected pieces
    ids: np.ndarray  # the ids of the pieces that are ink (not shading)
    shading: int  # how many pieces were dropped as shading
    inverted: bool  # the image was dark on light
    contrast: float
    steps: dict[str, np.ndarray]  # the intermediate images, if asked for


def _prepare(source: ImageSource, keep_steps: bool, max_pixels: int = MAX_PIXELS) -> _Ink:
    """Steps 1-4 shared by single digits and numbers (and, if asked, their intermediate images)."""
    image = load_image(source, max_pixels, draft=WORK_SIZE, gray=True)
    gray, alpha = to_grayscale(image)
    steps: dict[str, np.ndarray] = {}
    gray = _shrink(_flatten_alpha(gray, alpha))
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
    return _Ink(flat, mask, pieces, ids, shading, inverted, contrast, steps)


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
    ink = _prepare(source, return_steps and images, max_pixels)
    digit, components, pieces = _main_cluster(ink.mask, ink.pieces, ink.ids)
    components += ink.shading
    array = fit_to_mnist(ink.flat, digit)
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


def _number_groups(mask: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Pieces of ink grouped into digit candidates, left to right, and the row's digit height."""
    pieces = _Pieces.of(mask)
    count = pieces.count
    boxes = [pieces.box(i) for i in range(1, count + 1)]
    heights = np.array([b[0].stop - b[0].start for b in boxes], dtype=np.float64)
    tall = heights[heights >= 0.5 * heights.max()]
    height = float(np.median(tall))
    # [x0, x1, y0, y1, label ids], sorted by left edge
    groups = sorted([[b[1].start, b[1].stop, b[0].start, b[0].stop, [i + 1]] for i, b in enumerate(boxes)])

    def join(a, b):
        return [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]

    # Pieces that mostly overlap another horizontally belong to it (the two parts of a 5, a broken 4).
    merged: list[list] = []
    for g in groups:
        if merged:
            last = merged[-1]
            overlap = min(last[1], g[1]) - max(last[0], g[0])
            if overlap > 0.5 * min(g[1] - g[0], last[1] - last[0]):
                merged[-1] = join(last, g)
                continue
        merged.append(g)
    # Pieces much shorter or lighter than a digit (a detached bar, a stroke's tail, dots) join
    # their nearest neighbour.
    sizes = pieces.sizes

    def ink(g):
        return float(sum(sizes[i - 1] for i in g[4]))

    changed = True
    while changed and len(merged) > 1:
        changed = False
        typical = float(np.median([ink(g) for g in merged]))
        for i, g in enumerate(merged):
            if g[3] - g[2] >= 0.5 * height and ink(g) >= 0.2 * typical:
                continue
            gaps = []
            for j in (i - 1, i + 1):
                if 0 <= j < len(merged):
                    o = merged[j]
                    gaps.append((max(o[0], g[0]) - min(o[1], g[1]), j))
            _, j = min(gaps)
            merged[min(i, j)] = join(merged[i], merged[j])
            del merged[max(i, j)]
            changed = True
            break
    return [pieces.select(g[4]) for g in merged], height


def _cut(part: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut one group of touching digits into `n` pieces at the thinnest columns near even cuts."""
    cols = np.flatnonzero(part.any(axis=0))
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    width = x1 - x0
    column_ink = part[:, x0:x1].sum(axis=0)
    cuts = [x0]
    for k in range(1, n):
        guess = x0 + round(k * width / n)
        lo, hi = max(cuts[-1] + 1, guess - width // (3 * n)), min(x1 - 1, guess + width // (3 * n))
        cuts.append(lo + int(np.argmin(column_ink[lo - x0 : hi - x0 + 1])) if hi >= lo else guess)
    cuts.append(x1)
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        piece = np.zeros_like(part)
        piece[:, a:b] = part[:, a:b]
        if piece.any():
            pieces.append(piece)
    return pieces


def segment_number(
    source: ImageSource, max_digits: int = 32, max_pixels: int = MAX_PIXELS
) -> list[list[list[Preprocessed]]]:
    """Read a row of digits into candidate digits, left to right, with alternatives.

    Returns one entry per group of ink; each entry lists ways to read it (as one digit, or cut
    into 2, 3… touching digits), each a list of MNIST-style digits. `Predictor.predict_number`
    lets the model choose among them.
    """
    ink = _prepare(source, False, max_pixels)
    if not ink.mask.any():
        return []
    parts, height = _number_groups(ink.mask)
    groups = []
    for part in parts:
        cols = np.flatnonzero(part.any(axis=0))
        width = cols[-1] + 1 - cols[0]
        # Handwritten digits are rarely wider than tall: wider groups may be touching digits.
        most = 1 if width < 1.0 * height else min(4, max(2, int(round(width / (0.55 * height)))))
        alternatives = []
        for n in range(1, most + 1):
            pieces = [part] if n == 1 else _cut(part, n)
            alternatives.append(
                [
                    Preprocessed(
                        fit_to_mnist(ink.flat, p),
                        float(p.mean()),
                        ink.contrast,
                        _Pieces.of(p, boxes=False).count,
                        ink.inverted,
                    )
                    for p in pieces
                ]
            )
        groups.append(alternatives)
    if len(groups) > max_digits:
        raise ImageError(f"found {len(groups)} separate marks: more than {max_digits} digits, or noise")
    return groups


def ink_aspect(array: np.ndarray) -> float:
    """Width over height of the ink in one MNIST-style array (1.0 for a blank one)."""
    rows, cols = np.flatnonzero(array.any(axis=1)), np.flatnonzero(array.any(axis=0))
    return float((cols[-1] - cols[0] + 1) / max(1, rows[-1] - rows[0] + 1)) if rows.size else 1.0


def to_image(array: np.ndarray, scale: int = 1) -> Image.Image:
    """A (28, 28) array in [0, 1] as an 8-bit grayscale PIL image, optionally magnified."""
    image = Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST) if scale > 1 else image
