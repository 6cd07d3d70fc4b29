"""Pen strokes: letters and shapes as lines in a unit box, and the pens that draw them.

Greek and Cyrillic letters (the handwriting fonts have none), shapes, notes and scribbles are
drawn here as a pen writes them; KanjiVG's SVG paths become the same lists of points
(`path_points`), drawn with a ball point, a brush or a broad nib (`PENS`). No TensorFlow here.
"""

from __future__ import annotations

import math
import re

import numpy as np
from PIL import Image, ImageDraw


def arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, points: int = 24
) -> list[tuple[float, float]]:
    """Points of an elliptic arc from `start` to `end` degrees (0 to the right, 90 down)."""
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.radians(np.linspace(start, end, points))]


def ellipse(cx: float, cy: float, rx: float, ry: float) -> list[tuple[float, float]]:
    return arc(cx, cy, rx, ry, 0, 360, 40)


# The handwriting fonts have no Greek or Cyrillic: these letters are drawn from strokes in a unit
# box, as a pen writes them; capitals, then small letters (Cyrillic ones as handwriting joins them).
GREEK_STROKES: dict[str, list[list[tuple[float, float]]]] = {
    "Γ": [[(0.25, 0.9), (0.25, 0.1), (0.8, 0.1)]],
    "Δ": [[(0.5, 0.1), (0.9, 0.9), (0.1, 0.9), (0.5, 0.1)]],
    "Λ": [[(0.1, 0.9), (0.5, 0.1), (0.9, 0.9)]],
    "Π": [[(0.2, 0.9), (0.2, 0.1), (0.8, 0.1), (0.8, 0.9)]],
    "Σ": [[(0.8, 0.1), (0.2, 0.1), (0.55, 0.5), (0.2, 0.9), (0.8, 0.9)]],
    "Ξ": [[(0.2, 0.1), (0.8, 0.1)], [(0.3, 0.5), (0.7, 0.5)], [(0.2, 0.9), (0.8, 0.9)]],
    "Φ": [ellipse(0.5, 0.5, 0.38, 0.25), [(0.5, 0.05), (0.5, 0.95)]],
    "Ψ": [[(0.15, 0.2), (0.2, 0.5), (0.5, 0.62), (0.8, 0.5), (0.85, 0.2)], [(0.5, 0.1), (0.5, 0.9)]],
    "Ω": [
        [
            (0.15, 0.9),
            (0.35, 0.9),
            (0.2, 0.6),
            *ellipse(0.5, 0.45, 0.32, 0.35)[25:40],
            *ellipse(0.5, 0.45, 0.32, 0.35)[0:11],
            (0.65, 0.9),
            (0.85, 0.9),
        ]
    ],
    "α": [[(0.88, 0.15), *arc(0.42, 0.5, 0.3, 0.3, -25, -335), (0.9, 0.88)]],
    "γ": [[(0.1, 0.15), (0.3, 0.2), (0.5, 0.62), (0.42, 0.9), (0.52, 0.97), (0.58, 0.62), (0.9, 0.15)]],
    "ε": [[*arc(0.55, 0.3, 0.3, 0.2, -40, -270), *arc(0.55, 0.7, 0.33, 0.2, -90, -320)]],
    "η": [[(0.15, 0.15), (0.22, 0.3), (0.22, 0.7)], [(0.22, 0.4), *arc(0.5, 0.4, 0.28, 0.22, 180, 360), (0.8, 0.97)]],
    "κ": [[(0.2, 0.15), (0.2, 0.85)], [(0.75, 0.15), (0.2, 0.55), (0.8, 0.85)]],
    "λ": [[(0.2, 0.1), (0.35, 0.12), (0.85, 0.9)], [(0.55, 0.45), (0.15, 0.9)]],
    "μ": [
        [(0.2, 0.1), (0.2, 0.97)],
        [(0.2, 0.5), *arc(0.47, 0.5, 0.27, 0.2, 180, 0)],
        [(0.74, 0.1), (0.76, 0.6), (0.9, 0.7)],
    ],
    "ν": [[(0.12, 0.15), (0.22, 0.2), (0.42, 0.85), (0.75, 0.45), (0.82, 0.15)]],
    "π": [[(0.1, 0.25), (0.3, 0.18), (0.9, 0.2)], [(0.35, 0.2), (0.3, 0.85)], [(0.68, 0.2), (0.7, 0.8), (0.82, 0.85)]],
    "ρ": [[(0.28, 0.98), (0.28, 0.45), *arc(0.52, 0.45, 0.24, 0.28, 180, 540)]],
    "υ": [[(0.12, 0.2), (0.25, 0.2), (0.25, 0.6), *arc(0.5, 0.6, 0.25, 0.25, 180, 0), (0.8, 0.2)]],
    "χ": [[(0.1, 0.1), (0.25, 0.15), (0.8, 0.95), (0.92, 0.9)], [(0.85, 0.1), (0.15, 0.95)]],
    "ω": [[(0.3, 0.15), *arc(0.32, 0.5, 0.18, 0.35, -120, -270), (0.5, 0.5), *arc(0.68, 0.5, 0.18, 0.35, 90, -60)]],
}


CYRILLIC_STROKES: dict[str, list[list[tuple[float, float]]]] = {
    "Ж": [[(0.5, 0.1), (0.5, 0.9)], [(0.1, 0.1), (0.5, 0.5), (0.1, 0.9)], [(0.9, 0.1), (0.5, 0.5), (0.9, 0.9)]],
    "И": [[(0.2, 0.1), (0.2, 0.9), (0.8, 0.1), (0.8, 0.9)]],
    "Л": [[(0.1, 0.9), (0.35, 0.1), (0.85, 0.1), (0.85, 0.9)]],
    "Ц": [[(0.2, 0.1), (0.2, 0.85), (0.8, 0.85), (0.8, 0.1)], [(0.8, 0.85), (0.92, 1.0)]],
    "Ш": [[(0.1, 0.1), (0.1, 0.9), (0.9, 0.9), (0.9, 0.1)], [(0.5, 0.1), (0.5, 0.9)]],
    "Щ": [
        [(0.1, 0.1), (0.1, 0.85), (0.85, 0.85), (0.85, 0.1)],
        [(0.48, 0.1), (0.48, 0.85)],
        [(0.85, 0.85), (0.95, 1.0)],
    ],
    "Я": [[(0.75, 0.9), (0.75, 0.1), (0.35, 0.1), (0.25, 0.3), (0.35, 0.5), (0.75, 0.5)], [(0.45, 0.5), (0.2, 0.9)]],
    "Ю": [[(0.1, 0.1), (0.1, 0.9)], [(0.1, 0.5), (0.4, 0.5)], ellipse(0.65, 0.5, 0.25, 0.4)],
    "Г": [[(0.25, 0.9), (0.25, 0.1), (0.8, 0.1)]],
    "П": [[(0.2, 0.9), (0.2, 0.1), (0.8, 0.1), (0.8, 0.9)]],
    "и": [[(0.15, 0.15), (0.2, 0.7), *arc(0.45, 0.62, 0.3, 0.2, 150, 20), (0.8, 0.15), (0.8, 0.8), (0.92, 0.85)]],
    "й": [
        [(0.15, 0.25), (0.2, 0.7), *arc(0.45, 0.62, 0.3, 0.2, 150, 20), (0.8, 0.25), (0.8, 0.8)],
        [(0.35, 0.05), (0.5, 0.12), (0.65, 0.05)],
    ],
    "л": [[(0.08, 0.85), (0.25, 0.8), (0.42, 0.15), (0.8, 0.15), (0.8, 0.85), (0.92, 0.88)]],
    "т": [
        [(0.1, 0.85), (0.15, 0.2), (0.3, 0.15), (0.42, 0.3), (0.45, 0.85)],
        [(0.45, 0.3), (0.6, 0.15), (0.75, 0.25), (0.8, 0.85)],
    ],
    "ц": [
        [(0.15, 0.15), (0.2, 0.7), *arc(0.45, 0.65, 0.28, 0.18, 150, 20), (0.75, 0.15), (0.75, 0.8)],
        [(0.75, 0.8), (0.95, 0.85), (0.85, 1.0)],
    ],
    "ш": [
        [(0.1, 0.15), (0.12, 0.75), (0.3, 0.82), (0.45, 0.7), (0.45, 0.15)],
        [(0.45, 0.7), (0.62, 0.82), (0.8, 0.75), (0.8, 0.15)],
    ],
    "ж": [
        [(0.1, 0.15), (0.3, 0.45), (0.1, 0.85)],
        [(0.5, 0.1), (0.5, 0.9)],
        [(0.9, 0.15), (0.7, 0.45), (0.9, 0.85)],
        [(0.3, 0.45), (0.7, 0.45)],
    ],
    "ф": [ellipse(0.5, 0.45, 0.4, 0.22), [(0.5, 0.05), (0.5, 0.98)]],
    "ы": [[(0.15, 0.1), (0.15, 0.85), *arc(0.3, 0.68, 0.2, 0.17, 90, -200)], [(0.85, 0.1), (0.85, 0.85)]],
}


SHAPES = ("arrow", "tick", "cross", "star", "heart", "filled heart", "note", "triangle")


_NUMBER = re.compile(r"-?\d*\.?\d+(?:e-?\d+)?")


def path_points(d: str) -> list[tuple[float, float]]:
    """An SVG path of M, L, C and S commands (absolute or relative) as points along it."""
    points: list[tuple[float, float]] = []
    x = y = 0.0
    control = (0.0, 0.0)
    for command, args in re.findall(r"([MmLlCcSs])([^MmLlCcSs]*)", d):
        values = [float(v) for v in _NUMBER.findall(args)]
        step = {"M": 2, "L": 2, "C": 6, "S": 4}[command.upper()]
        for i in range(0, len(values) - step + 1, step):
            v = values[i : i + step]
            if command.islower():
                v = [v[k] + (x if k % 2 == 0 else y) for k in range(step)]
            if command.upper() in "ML":
                x, y = v
                points.append((x, y))
                continue
            if command.upper() == "C":
                c1, c2, end = (v[0], v[1]), (v[2], v[3]), (v[4], v[5])
            else:  # S: the first control point mirrors the previous curve's second
                c1, c2, end = (2 * x - control[0], 2 * y - control[1]), (v[0], v[1]), (v[2], v[3])
            for t in np.linspace(0.125, 1.0, 8):
                u = 1 - t
                points.append(
                    (
                        u**3 * x + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t**3 * end[0],
                        u**3 * y + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t**3 * end[1],
                    )
                )
            control, (x, y) = c2, end
    return points


PENS = ("pen", "brush", "broad")  # even width; thick in the middle, thin at the ends; by direction


def draw_strokes(
    strokes: list[list[tuple[float, float]]], box: float, size: int, width: int, pen: str = "pen"
) -> np.ndarray:
    """Strokes (polylines in a `box`-sized square) drawn on a `size` canvas. The pen is a ball
    point (even width), a brush (swelling in the middle of each stroke, thin at its ends), or a
    broad nib held at an angle (thick going down, thin going across), as printed and brush-written
    characters look."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    scale = size / box
    for stroke in strokes:
        if len(stroke) < 2:
            continue
        points = [(px * scale, py * scale) for px, py in stroke]
        if pen == "pen":
            draw.line(points, fill=255, width=width, joint="curve")
            continue
        lengths = [math.hypot(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in zip(points, points[1:])]
        total, done = max(1e-6, sum(lengths)), 0.0
        for ((x0, y0), (x1, y1)), length in zip(zip(points, points[1:]), lengths):
            steps = max(1, int(length))
            for k in range(steps):
                x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
                if pen == "brush":  # along the stroke: thin, full, thin
                    radius = width * (0.15 + 0.45 * math.sin(math.pi * (done + length * k / steps) / total))
                else:  # broad nib: the stroke's direction against the nib's edge
                    radius = width * (0.1 + 0.5 * abs(y1 - y0) / max(1e-6, length))
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
            done += length
    return np.asarray(canvas, np.float32) / 255.0


def shape(kind: str, size: int, width: int, rng: np.random.Generator) -> np.ndarray:
    c, r = size / 2, size * 0.38
    if kind == "arrow":
        angle = rng.uniform(0, 2 * math.pi)
        dx, dy = math.cos(angle) * r, math.sin(angle) * r
        tip = (c + dx, c + dy)
        back = [
            (tip[0] - 0.4 * (dx * math.cos(a) - dy * math.sin(a)), tip[1] - 0.4 * (dx * math.sin(a) + dy * math.cos(a)))
            for a in (0.5, -0.5)
        ]
        strokes = [[(c - dx, c - dy), tip], [back[0], tip, back[1]]]
    elif kind == "tick":
        strokes = [[(c - r, c), (c - r / 3, c + r * 0.7), (c + r, c - r)]]
    elif kind == "cross":
        strokes = [[(c - r, c - r), (c + r, c + r)], [(c + r, c - r), (c - r, c + r)]]
    elif kind == "star":
        strokes = [[(c + r * math.sin(k * 4 * math.pi / 5), c - r * math.cos(k * 4 * math.pi / 5)) for k in range(6)]]
    elif kind in ("heart", "filled heart"):
        t = np.linspace(0, 2 * math.pi, 60)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        strokes = [[(c + r * px / 17, c - r * py / 17) for px, py in zip(x, y)]]
        if kind == "filled heart":
            return filled(strokes, [], size, width)
    elif kind == "note":
        return note(size, width, rng)
    else:  # triangle
        strokes = [[(c, c - r), (c + r, c + r * 0.8), (c - r, c + r * 0.8), (c, c - r)]]
    return draw_strokes(strokes, size, size, width)


def filled(
    outlines: list[list[tuple[float, float]]], strokes: list[list[tuple[float, float]]], size: int, width: int
) -> np.ndarray:
    """Closed `outlines` filled with ink and `strokes` drawn with a pen, on a `size` canvas."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for outline in outlines:
        draw.polygon(outline, fill=255)
    return np.maximum(np.asarray(canvas, np.float32) / 255.0, draw_strokes(strokes, size, size, width))


def note(size: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A music note as people draw it: one note with a flag (♪), or two joined by a beam (♫);
    the heads filled or hollow."""
    c, r = size / 2, size * 0.38
    heads = [c - r * 0.45, c + r * 0.35] if rng.random() < 0.5 else [c - r * 0.1]
    head_y, top, tilt = c + r * 0.7, c - r * rng.uniform(0.8, 1.0), rng.uniform(-0.3, 0.3)
    outlines: list[list[tuple[float, float]]] = []
    strokes: list[list[tuple[float, float]]] = []
    for hx in heads:
        head = [
            (
                hx + r * 0.28 * math.cos(a) * math.cos(tilt) - r * 0.18 * math.sin(a) * math.sin(tilt),
                head_y + r * 0.28 * math.cos(a) * math.sin(tilt) + r * 0.18 * math.sin(a),
            )
            for a in np.linspace(0, 2 * math.pi, 24)
        ]
        (outlines if rng.random() < 0.8 else strokes).append(head)
        strokes.append([(hx + r * 0.26, head_y), (hx + r * 0.26, top)])
    if len(heads) == 2:
        x0, x1 = heads[0] + r * 0.26, heads[1] + r * 0.26
        y1, thick = top + r * rng.uniform(-0.15, 0.15), max(width, r * 0.15)
        outlines.append([(x0, top), (x1, y1), (x1, y1 + thick), (x0, top + thick)])  # the beam
    else:
        stem = heads[0] + r * 0.26
        strokes.append([(stem, top), (stem + r * 0.3, top + r * 0.35), (stem + r * 0.35, top + r * 0.75)])
    return filled(outlines, strokes, size, width)


def vary(
    strokes: list[list[tuple[float, float]]], box: float, rng: np.random.Generator
) -> list[list[tuple[float, float]]]:
    """A writer's version of a model drawing: each stroke moved, grown or shrunk a little on its
    own (by up to a twentieth of the box, and 15 %), so that no two characters come out alike."""
    out = []
    for stroke in strokes:
        xs, ys = [x for x, _ in stroke], [y for _, y in stroke]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        k = rng.uniform(0.85, 1.15)
        dx, dy = rng.uniform(-0.05, 0.05, 2) * box
        out.append([(cx + (x - cx) * k + dx, cy + (y - cy) * k + dy) for x, y in stroke])
    return out


def wobble(strokes: list[list[tuple[float, float]]], rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """A hand's unsteadiness: each point moved a little (a twentieth of the box at most)."""
    return [[(x + rng.uniform(-0.05, 0.05), y + rng.uniform(-0.05, 0.05)) for x, y in stroke] for stroke in strokes]


def scribble(size: int, width: int, rng: np.random.Generator) -> np.ndarray:
    points = [(float(px), float(py)) for px, py in rng.uniform(0.15, 0.85, (int(rng.integers(6, 16)), 2)) * size]
    return draw_strokes([points], size, size, width)
