"""Drive the real drawing app on a virtual screen: Xvfb for the display, xdotool for a real
mouse and keyboard, the window title for the answer. Used by tests/app/test_window.py and by
benchmarks/gui_latency.py (which also takes the README's screenshot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CANVAS_ORIGIN = (11, 11)  # the window's padding (10) and the canvas border (1); no window manager


def _read_display(pipe, process: subprocess.Popen, timeout: float) -> int:
    """The display number Xvfb writes (a line) once it is ready; an error if it dies or waits."""
    import select

    deadline = time.monotonic() + timeout
    text = b""
    while not text.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([pipe], [], [], left)[0]:
            raise RuntimeError("Xvfb did not start within 10 s")
        chunk = os.read(pipe.fileno(), 16)
        if not chunk:
            raise RuntimeError(f"Xvfb did not start (exit status {process.wait()})")
        text += chunk
    return int(text)


class XSession:
    """An Xvfb display of our own, stopped on close."""

    def __init__(self, width: int = 1024, height: int = 768):
        for tool in ("Xvfb", "xdotool"):
            if shutil.which(tool) is None:
                raise FileNotFoundError(f"{tool} is not installed (Debian: apt-get install xvfb xdotool)")
        # Xvfb picks a free display itself and writes its number to our pipe once it accepts
        # connections: no check-then-start race with another test run's display.
        self.app: subprocess.Popen | None = None
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        try:
            with os.fdopen(read_end, "rb") as pipe:
                number = _read_display(pipe, self.process, timeout=10)
        except RuntimeError:
            self.close()
            raise
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}

    def launch_gui(self, *args: str) -> subprocess.Popen:
        self.app = subprocess.Popen(
            [sys.executable, "-m", "digitrec", "gui", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self.app

    def xdotool(self, *args: str) -> str:
        return subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30
        ).stdout.strip()

    def window(self, name: str = "^digitrec") -> str | None:
        """The app's main window (or the first whose title matches `name`)."""
        found = self.xdotool("search", "--name", name)
        return found.splitlines()[0] if found else None

    def window_title(self, name: str) -> str:
        win = self.window(name)
        return self.xdotool("getwindowname", win) if win else ""

    def click(self, x: int, y: int) -> None:
        """A real left click at screen coordinates."""
        self.xdotool("mousemove", str(x), str(y), "click", "1")

    def open_window(self) -> str:
        win = self.window()
        if win is None:
            raise RuntimeError("the app has no window")
        return win

    def title(self) -> str:
        win = self.window()
        return self.xdotool("getwindowname", win) if win else ""

    def wait_title(self, predicate, timeout: float = 30.0, poll: float = 0.005) -> str:
        deadline = time.monotonic() + timeout
        title = ""
        while time.monotonic() < deadline:
            title = self.title()
            if predicate(title):
                return title
            if self.app is not None and self.app.poll() is not None:
                raise RuntimeError(f"the app exited: {self.app.stderr.read() if self.app.stderr else ''}")
            time.sleep(poll)
        raise TimeoutError(f"window title stayed {title!r}")

    def wait_settled(self, predicate, quiet: float = 0.8, timeout: float = 30.0, poll: float = 0.01) -> str:
        """Wait for a title that `predicate` accepts and that then stays the same for `quiet` seconds.

        The app answers live while a stroke is drawn (one prediction per debounce interval), so the
        first answer seen after a drag may be the one for half a stroke; the answer to the whole
        drawing is the one that stays.
        """
        deadline = time.monotonic() + timeout
        title, since = None, time.monotonic()
        while time.monotonic() < deadline:
            current = self.title()
            if current != title:
                title, since = current, time.monotonic()
            elif predicate(title) and time.monotonic() - since >= quiet:
                return title
            if self.app is not None and self.app.poll() is not None:
                raise RuntimeError(f"the app exited: {self.app.stderr.read() if self.app.stderr else ''}")
            time.sleep(poll)
        raise TimeoutError(f"window title did not settle; last {title!r}")

    def drag(self, points: list[tuple[float, float]], step_delay: float = 0.004) -> None:
        """Press, move through `points` (canvas coordinates), release: one real mouse stroke."""
        ox, oy = CANVAS_ORIGIN
        args = ["mousemove", str(int(ox + points[0][0])), str(int(oy + points[0][1])), "mousedown", "1"]
        for x, y in points[1:]:
            args += ["mousemove", str(int(ox + x)), str(int(oy + y)), "sleep", str(step_delay)]
        args += ["mouseup", "1"]
        self.xdotool(*args)

    def key(self, *keys: str) -> None:
        win = self.open_window()
        self.xdotool("windowfocus", "--sync", win)
        self.xdotool("key", "--window", win, *keys)

    def screenshot(self, path: str | Path, box: tuple[int, int, int, int] | None = None) -> Path:
        from PIL import ImageGrab

        image = ImageGrab.grab(xdisplay=self.display)
        if box is None:
            geometry = self.xdotool("getwindowgeometry", "--shell", self.open_window())
            values = dict(line.split("=") for line in geometry.splitlines() if "=" in line)
            x, y, w, h = (int(values[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
            box = (x, y, x + w, y + h)
        image.crop(box).save(path)
        return Path(path)

    def close(self) -> None:
        for proc in (self.app, self.process):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def line(a: tuple[float, float], b: tuple[float, float], steps: int = 12) -> list[tuple[float, float]]:
    return [(a[0] + (b[0] - a[0]) * t / steps, a[1] + (b[1] - a[1]) * t / steps) for t in range(steps + 1)]


def polyline(*corners: tuple[float, float], steps: int = 12) -> list[tuple[float, float]]:
    points = [corners[0]]
    for a, b in zip(corners, corners[1:]):
        points += line(a, b, steps)[1:]
    return points


def ellipse(
    cx: float, cy: float, rx: float, ry: float, steps: int = 40, wobble: float = 0.0
) -> list[tuple[float, float]]:
    import math

    return [
        (
            cx + rx * (1 + wobble * math.sin(3 * t)) * math.sin(2 * math.pi * t / steps),
            cy - ry * math.cos(2 * math.pi * t / steps),
        )
        for t in range(steps + 3)
    ]


def scaled(points, scale: float, dx: float = 0.0, dy: float = 0.0):
    return [(x * scale + dx, y * scale + dy) for x, y in points]


def _curve(
    cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, steps: int = 24
) -> list[tuple[float, float]]:
    """Points on an ellipse from one angle to another (degrees, 0 = right, 90 = up, counter-clockwise)."""
    import math

    return [
        (cx + rx * math.cos(math.radians(a)), cy - ry * math.sin(math.radians(a)))
        for a in (start_deg + (end_deg - start_deg) * k / steps for k in range(steps + 1))
    ]


def _figure_eight(cx: float, cy: float, half_width: float, half_height: float, steps: int = 48):
    import math

    return [
        (cx + half_width * math.sin(2 * t), cy - half_height * math.cos(t))
        for t in (2 * math.pi * k / steps for k in range(steps + 2))
    ]


# The digits 0-9 as a person draws them with a mouse on the 280x280 canvas: each a list of
# strokes (press, move, release), in the order and direction people use.
PEOPLE_DIGITS: dict[str, list[list[tuple[float, float]]]] = {
    "0": [ellipse(140, 140, 62, 95, steps=40, wobble=0.05)],
    "1": [line((145, 40), (132, 240), steps=20)],  # a single line, leaning a little
    "2": [_curve(140, 95, 55, 50, 160, -40) + line((182, 128), (80, 238))[1:] + line((80, 238), (212, 236))[1:]],
    "3": [_curve(135, 85, 55, 45, 150, -90, steps=20) + _curve(135, 180, 60, 50, 90, -150, steps=20)],
    "4": [polyline((160, 40), (72, 170), (215, 170)), line((168, 95), (168, 248), steps=16)],  # two strokes
    "5": [
        polyline((100, 48), (90, 125)) + _curve(135, 170, 60, 55, 130, -140, steps=24)[1:],
        line((100, 48), (200, 46)),
    ],  # the body, then the flag on top
    "6": [_curve(150, 150, 65, 105, 60, 180, steps=12) + _curve(140, 185, 55, 52, 180, 540, steps=30)[1:]],
    "7": [polyline((68, 50), (212, 50), (118, 248))],  # without a bar
    "8": [_figure_eight(140, 140, 52, 98)],
    "9": [_curve(140, 90, 50, 48, -10, 370, steps=30) + line((188, 98), (172, 248), steps=14)[1:]],
}


def read_drawings(session: XSession, drawings: dict[str, list[list[tuple[float, float]]]]) -> dict[str, str]:
    """Draw each drawing on a cleared canvas of the running app; return what the app answered to
    each (the digit, or "no digit"), read from the settled window title."""
    import re

    answers = {}
    for label, strokes in drawings.items():
        session.key("Escape")
        session.wait_title(lambda t: t.endswith("draw a digit"), timeout=10)
        for stroke in strokes:
            session.drag(stroke)
        title = session.wait_settled(lambda t: re.search(r"— (\d|no digit)", t) is not None, timeout=20)
        found = re.search(r"— (\d|no digit)", title)
        assert found is not None
        answers[label] = found.group(1)
    return answers


# Letters and marks as people draw them with a mouse (#17): ten capitals a digits-only model
# reads as 4, 5 or 8, a plus and three bars; and a few more. None of them is a digit.
PEOPLE_MARKS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [polyline((70, 240), (140, 40), (210, 240)), line((100, 160), (182, 160))],
    "E": [polyline((200, 45), (90, 45), (90, 235), (200, 235)), line((90, 140), (180, 140))],
    "F": [polyline((200, 45), (95, 45), (95, 240)), line((95, 135), (180, 135))],
    "H": [line((80, 45), (80, 240)), line((200, 45), (200, 240)), line((80, 140), (200, 140))],
    "K": [line((90, 40), (90, 240)), polyline((200, 45), (92, 145), (205, 240))],
    "M": [polyline((60, 240), (75, 45), (140, 170), (205, 45), (220, 240))],
    "N": [polyline((80, 240), (80, 45), (200, 240), (200, 45))],
    "X": [line((70, 45), (210, 240)), line((210, 45), (70, 240))],
    "W": [polyline((50, 50), (95, 235), (140, 110), (185, 235), (230, 50))],
    "Y": [polyline((70, 45), (140, 140), (210, 45)), line((140, 140), (140, 245))],
    "+": [line((140, 50), (140, 230)), line((50, 140), (230, 140))],
    "≡": [line((60, 80), (220, 80)), line((60, 140), (220, 140)), line((60, 200), (220, 200))],
}
MORE_MARKS: dict[str, list[list[tuple[float, float]]]] = {
    "tick": [polyline((60, 150), (115, 220), (225, 55))],
    "star": [polyline((140, 40), (195, 230), (50, 110), (230, 110), (85, 230), (140, 40))],
    "#": [
        line((110, 50), (95, 235)),
        line((180, 50), (165, 235)),
        line((60, 110), (220, 110)),
        line((55, 180), (215, 180)),
    ],
    "arrow": [line((50, 140), (230, 140)), polyline((170, 80), (230, 140), (170, 200))],
}


def drawn(strokes: list[list[tuple[float, float]]], width: int = 16):
    """The image the app would hold after these mouse strokes (its default pen), without a screen."""
    from digitrec.app.drawing import Drawing

    drawing = Drawing()
    for stroke in strokes:
        drawing.begin(*stroke[0], width)
        for point in stroke[1:]:
            drawing.extend(*point)
    return drawing.image
