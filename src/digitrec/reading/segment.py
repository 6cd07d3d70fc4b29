"""Numbers: a row of digits cut into candidate digits, left to right, each group of ink with
the ways to read it (whole, or cut into 2, 3, 4 touching digits) for the model to choose among
(`Predictor.predict_number`). No TensorFlow here."""

from __future__ import annotations

import numpy as np

from digitrec.reading.images import MAX_PIXELS, ImageError, ImageSource
from digitrec.reading.ink import find_ink
from digitrec.reading.preprocess import Preprocessed, fit_to_mnist
from digitrec.reading.shape import Pieces


def _number_groups(mask: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Pieces of ink grouped into digit candidates, left to right, and the row's digit height."""
    pieces = Pieces.of(mask)
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
    ink = find_ink(source, False, max_pixels)
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
                        fit_to_mnist(ink.flat, p, ink.mask & ~p),
                        float(p.mean()),
                        ink.contrast,
                        Pieces.of(p, boxes=False).count,
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
