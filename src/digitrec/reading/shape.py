"""The shape of ink: a mask's box, its connected pieces, its loops and its stroke width, the
measures `ink` (which ink is the digit), `preprocess` (how it is fitted) and the "no digit" rules
use. OpenCV does the pixel work: a few microseconds of overhead a call, where scipy and Pillow
cost tens. No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SQUARE = np.ones((3, 3), np.uint8)  # 8-connected neighbourhood
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-connected


def u8(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as the contiguous 0/1 uint8 image OpenCV takes."""
    return np.ascontiguousarray(mask).view(np.uint8)


def ink_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """top, bottom, left, right (exclusive) of a non-empty mask's pixels, by OpenCV in one pass."""
    x, y, w, h = cv2.boundingRect(u8(mask))
    return y, y + h, x, x + w


@dataclass
class Pieces:
    """The connected pieces of a mask: `labels` numbers them 1..count (0 is the background);
    `stats` has one row per piece: x, y, width, height, area."""

    labels: np.ndarray
    stats: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, connectivity: int = 8, boxes: bool = True) -> Pieces:
        """Label the pieces of `mask` (8- or 4-connected); without `boxes`, only their sizes."""
        image = u8(mask)
        n, labels = cv2.connectedComponents(image, connectivity=connectivity, ltype=cv2.CV_32S)
        stats = np.zeros((n - 1, 5), np.int64)
        if n == 2:  # one piece, as most digits are: its box and size without sorting pixels
            stats[0, :4] = cv2.boundingRect(image)
            stats[0, 4] = cv2.countNonZero(image)
        elif n > 1 and not boxes:
            stats[:, 4] = np.bincount(labels.ravel(), minlength=n)[1:]
        elif n > 1:
            # OpenCV's own statistics take several times the labelling: boxes and areas from pixels sorted by label.
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
        """The mask of the pieces with these labels (a comparison or two for a few: a lookup per pixel costs ten)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 1:
            return self.labels == int(ids[0])  # a Python int: numpy compares the int32 labels as they are
        if len(ids) == 2:
            return (self.labels == int(ids[0])) | (self.labels == int(ids[1]))
        chosen = np.zeros(self.count + 1, bool)
        chosen[ids] = True
        return np.take(chosen, self.labels)


def at_border(image: np.ndarray, over: float = 0.0) -> bool:
    """Whether any pixel along the image's border is over `over` (for a mask: any pixel at all)."""
    return bool(
        image[0].max() > over or image[-1].max() > over or image[:, 0].max() > over or image[:, -1].max() > over
    )


# A loop is at least this share of the digit's box: a smaller enclosed gap is where blurred strokes
# cross (a tiny 8 blown up shows a third at its waist) or a pin-hole. Chosen on realistic set 0: the
# largest that turned away every kind of non-digit as before, with both models (CHANGELOG).
MIN_HOLE_SHARE = 0.009


def count_holes(mask: np.ndarray) -> int:
    """Closed loops in the ink: background regions it encloses, at least MIN_HOLE_SHARE of its box."""
    if not mask.any():
        return 0
    top, bottom, left, right = ink_box(mask)
    box = np.pad(mask[top:bottom, left:right], 1)
    background = Pieces.of(~box, connectivity=4, boxes=False)
    if background.count <= 1:
        return 0
    sizes = np.delete(background.sizes, background.labels[0, 0] - 1)  # the piece at the corner is the outside
    return int((sizes >= MIN_HOLE_SHARE * box.size).sum())


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the median distance from the stroke's middle to its edge."""
    if not mask.any():
        return 0.0
    if mask.all():  # a solid bar fills its own box: as wide as the box's short side
        return float(min(mask.shape))
    distance = cv2.distanceTransform(u8(mask), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # The exact distances are square roots of whole numbers; OpenCV's come with a rounding error
    # that varies from call to call (opencv/opencv#24082), enough to change which pixels tie
    # for the ridge. Rounded squares are exact, so the answer is the same every time.
    squared = np.rint(distance * distance)
    ridge = squared[(squared >= cv2.dilate(squared, SQUARE)) & mask]
    return float(2 * np.median(np.sqrt(ridge.astype(np.float64)))) if ridge.size else 1.0


def rough_stroke_width(mask: np.ndarray) -> float:
    """A quick lower estimate of the stroke width: twice the area over the edge's length (a
    stroke w wide and L long has w*L pixels and about 2L edge pixels)."""
    edge = mask & (cv2.erode(u8(mask), CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0)
    return 2.0 * float(mask.sum()) / max(1.0, float(edge.sum()))
