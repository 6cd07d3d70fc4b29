"""The drawing the app holds: strokes on a white square, rendered with round pens into a
grayscale Pillow image (never a screenshot). Needs no display; tested on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image, ImageDraw

CANVAS = 280  # pixels: ten times MNIST's 28
BRUSHES = (6, 10, 16, 22, 30)  # stroke widths to choose from; 16 is about MNIST's stroke at this size
PAPER, INK = 255, 0


@dataclass
class Stroke:
    width: int
    erase: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)


class Drawing:
    """Strokes on a white square, rendered with round pens into a grayscale image."""

    def __init__(self, size: int = CANVAS):
        self.size = size
        self.strokes: list[Stroke] = []
        self.image = Image.new("L", (size, size), PAPER)
        self._base: Image.Image | None = None  # an opened image the strokes are drawn over
        self._draw = ImageDraw.Draw(self.image)

    def begin(self, x: float, y: float, width: int, erase: bool = False) -> None:
        self.strokes.append(Stroke(width, erase, [(x, y)]))
        self._dab(self.strokes[-1], (x, y))

    def extend(self, x: float, y: float) -> tuple[float, float] | None:
        """Add a point to the current stroke; returns the previous point (to draw the segment)."""
        if not self.strokes:
            return None
        stroke = self.strokes[-1]
        previous = stroke.points[-1]
        stroke.points.append((x, y))
        self._segment(stroke, previous, (x, y))
        return previous

    def undo(self) -> bool:
        if not self.strokes:
            return False
        self.strokes.pop()
        self._render()
        return True

    def clear(self) -> None:
        self.strokes.clear()
        self._render()

    @property
    def empty(self) -> bool:
        return self._base is None and not any(not s.erase for s in self.strokes)

    def load(self, image: Image.Image) -> None:
        """Replace the drawing with an image (fitted, grayscale), as a base that undo keeps."""
        self.strokes.clear()
        fitted = image.convert("L")
        fitted.thumbnail((self.size, self.size))
        self.image.paste(PAPER, (0, 0, self.size, self.size))
        self.image.paste(fitted, ((self.size - fitted.width) // 2, (self.size - fitted.height) // 2))
        self._base = self.image.copy()

    def _render(self) -> None:
        if self._base is not None:
            self.image.paste(self._base)
        else:
            self.image.paste(PAPER, (0, 0, self.size, self.size))
        for stroke in self.strokes:
            self._dab(stroke, stroke.points[0])
            for a, b in zip(stroke.points, stroke.points[1:]):
                self._segment(stroke, a, b)

    def _dab(self, stroke: Stroke, p: tuple[float, float]) -> None:
        r = stroke.width / 2
        self._draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=PAPER if stroke.erase else INK)

    def _segment(self, stroke: Stroke, a: tuple[float, float], b: tuple[float, float]) -> None:
        colour = PAPER if stroke.erase else INK
        self._draw.line([a, b], fill=colour, width=stroke.width)
        self._dab(stroke, b)  # round joints and caps
