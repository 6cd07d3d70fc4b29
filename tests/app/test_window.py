"""The drawing app: the drawing-to-array path in process, and the real app on a virtual screen."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from digitrec.app.reader import describe
from digitrec.reading.answers import NumberPrediction, Prediction
from tests.support import xdriver
from tests.support.helpers import REPO, need
from tests.support.xdriver import PEOPLE_DIGITS, ellipse, line, polyline, read_drawings, scaled

# ---------------------------------------------------------------- without a display


def test_titles_say_the_answer():
    p = Prediction(7, 0.981, [0.0] * 7 + [0.981] + [0.0] * 2)
    assert describe(p) == ("7", "digitrec — 7 (98%)")
    assert (
        describe(Prediction(None, 0.4, [0.4] + [0.6 / 9] * 9, "uncertain: best guess 0 at 40%", "uncertain"))[1]
        == "digitrec — no digit, probably a 0 (40%)"
    )
    assert (
        describe(Prediction(None, 0.1, [0.1] * 10, "no ink found (a blank or too faint image)", "no ink"))[1]
        == "digitrec — no digit"
    )
    n = NumberPrediction("42", [Prediction(4, 0.9, [0.1] * 10), Prediction(2, 0.8, [0.1] * 10)])
    assert describe(n) == ("42", "digitrec — 42 (80%)")


def test_no_display_is_one_clear_line(tmp_path):
    from tests.support.helpers import run_cli

    proc = run_cli("gui", env={"DISPLAY": ""})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no display" in proc.stderr or "tkinter is missing" in proc.stderr


def test_the_inside_views_images_show_the_attribution_and_each_layer():
    from digitrec.app.inside import CELL, TILE, attribution_image, layers_image
    from digitrec.reading.explain import LayerMaps

    image = np.zeros((28, 28), np.float32)
    image[5:20, 14] = 1.0
    attribution = np.zeros((28, 28), np.float32)
    attribution[10, 14] = 1.0
    shown = np.asarray(attribution_image(image, attribution))
    assert shown.shape == (28 * CELL, 28 * CELL, 3)
    assert tuple(shown[10 * CELL, 14 * CELL]) == (255, 90, 90)  # the deciding pixel: full red over ink
    assert tuple(shown[5 * CELL, 14 * CELL]) == (90, 90, 90) and tuple(shown[0, 0]) == (0, 0, 0)
    layers = [LayerMaps("conv1", "Conv2D", np.random.default_rng(0).random((26, 26, 32), np.float32)),
              LayerMaps("pool1", "MaxPooling2D", np.zeros((13, 13, 4), np.float32))]  # fmt: skip
    grid = layers_image(layers)
    assert grid.height >= 2 * TILE and grid.width >= 8 * TILE


# ---------------------------------------------------------------- the real app, on Xvfb


@pytest.fixture(scope="module")
def screen(good_run):
    need(shutil.which("Xvfb") is not None and shutil.which("xdotool") is not None, "Xvfb and xdotool")
    with xdriver.XSession() as session:
        session.launch_gui("--model", str(good_run.run_dir))
        session.wait_title(lambda t: t.endswith("draw a digit"), timeout=90)
        yield session


def _answer(screen) -> str:
    """The answer to the whole drawing: live answers to half a stroke come first and change."""
    return screen.wait_settled(lambda t: re.search(r"— (\d|no digit)", t) is not None, timeout=20)


def _clear(screen):
    screen.key("Escape")
    screen.wait_title(lambda t: t.endswith("draw a digit"), timeout=10)


def test_draw_a_one_thick_and_centred(screen):
    _clear(screen)
    screen.drag(line((140, 40), (135, 240), steps=20))
    assert _answer(screen).startswith("digitrec — 1 ")


def test_draw_a_zero_small_thin_and_off_centre(screen):
    _clear(screen)
    screen.key("bracketleft", "bracketleft")  # the thinnest brush
    screen.drag(ellipse(70, 70, 28, 42, steps=36))
    title = _answer(screen)
    screen.key("bracketright", "bracketright")
    assert title.startswith("digitrec — 0 "), title


def test_draw_a_seven_large_and_thick(screen):
    _clear(screen)
    screen.key("bracketright", "bracketright")  # the thickest brush
    screen.drag(polyline((50, 40), (230, 40), (120, 260)))
    title = _answer(screen)
    screen.key("bracketleft", "bracketleft")
    assert title.startswith("digitrec — 7 "), title


def test_draw_a_seven_as_people_do_in_two_strokes_off_centre(screen):
    _clear(screen)
    screen.drag(scaled(polyline((60, 60), (200, 60), (110, 250)), 0.6, 90, 30))
    screen.drag(scaled(line((95, 155), (175, 155)), 0.6, 90, 30))  # the continental bar
    assert _answer(screen).startswith("digitrec — 7 ")


def _wait_inside(screen, predicate, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    title = ""
    while time.monotonic() < deadline:
        title = screen.window_title("^inside the network")
        if predicate(title):
            return title
        time.sleep(0.05)
    raise TimeoutError(f"the Inside window's title stayed {title!r}")


def _bar_centre(screen, digit: int) -> tuple[int, int]:
    """Where digit's bar is on the screen: the bars' outlines are the window's only long #bbbbbb lines."""
    from PIL import Image

    geometry = screen.xdotool("getwindowgeometry", "--shell", screen.open_window())
    origin = dict(line.split("=") for line in geometry.splitlines() if "=" in line)
    shot = np.asarray(Image.open(screen.screenshot(screen.tmp / "window.png")).convert("RGB"))
    grey = (shot == (187, 187, 187)).all(axis=-1)
    # The bars' top and bottom outlines are long grey rows, 18 pixels apart (the answer's bar is
    # filled over them; the first one, 0's, is not, for a drawing of a 7).
    edges = np.flatnonzero(grey.sum(axis=1) > 100)
    columns = np.flatnonzero(grey[edges[0]])
    x, y = (columns[0] + columns[-1]) // 2, edges[0] + 18 * digit + 6
    return int(origin["X"]) + int(x), int(origin["Y"]) + int(y)


def test_the_inside_view_shows_why_and_a_bar_asks_about_another_digit(screen, tmp_path):
    """The Inside window (key i): after a drawn 7 it explains the 7; a click on the 3's bar asks
    "why not 3?"; a new stroke goes back to the answer; i closes it."""
    _clear(screen)
    screen.tmp = tmp_path
    screen.key("i")
    assert _wait_inside(screen, lambda t: t.endswith("draw a digit"))  # TensorFlow and the Keras model loaded
    screen.drag(polyline((50, 40), (230, 40), (120, 260)))
    assert _answer(screen).startswith("digitrec — 7 ")
    assert _wait_inside(screen, lambda t: t.endswith("why 7?"))
    screen.click(*_bar_centre(screen, 3))
    assert _wait_inside(screen, lambda t: t.endswith("why not 3?"), timeout=20)
    screen.drag(line((40, 270), (60, 270)))  # a dot of ink: the answer is explained again
    assert _wait_inside(screen, lambda t: t.endswith("why 7?"), timeout=20)
    screen.key("Escape")
    for k in range(8):  # eight specks apart: no digit by its ink, so nothing to explain
        screen.drag(line((30 + 30 * k, 60 + 40 * (k % 3)), (38 + 30 * k, 64 + 40 * (k % 3)), steps=3))
    assert _wait_inside(screen, lambda t: t.endswith("— no digit"), timeout=20)
    screen.key("i")
    deadline = time.monotonic() + 10
    while screen.window("^inside the network") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert screen.window("^inside the network") is None


def test_clear_and_undo(screen):
    _clear(screen)
    screen.drag(line((140, 40), (140, 240), steps=20))
    assert _answer(screen).startswith("digitrec — 1 ")
    screen.drag(polyline((60, 60), (230, 60), (230, 250), (60, 250), (60, 60)))  # a box around it
    screen.wait_title(lambda t: not t.startswith("digitrec — 1 "), timeout=10)
    screen.key("ctrl+z")
    assert screen.wait_title(lambda t: t.startswith("digitrec — 1 "), timeout=10)
    screen.key("Escape")
    assert screen.wait_title(lambda t: t.endswith("draw a digit"), timeout=10)


class _SlowPredictor:
    """A model that takes `SECONDS` to read each drawing: a slow machine, or a busy one."""

    SECONDS = 0.3

    def __init__(self, model=None, runs_root=None):
        self.choice = SimpleNamespace(label=lambda: "a slow model")

    def warm_up(self):
        return self

    def predict_image(self, image):
        time.sleep(self.SECONDS)
        return Prediction(1, 0.9, [0.0, 0.9] + [0.0] * 8, preprocessed=np.zeros((28, 28), np.float32))


def _run_until(root, done, timeout: float = 30.0) -> None:
    """Run Tk's own loop (as the app does) until `done()`."""
    deadline = time.monotonic() + timeout

    def check():
        if done() or time.monotonic() > deadline:
            root.quit()
        else:
            root.after(10, check)

    root.after(10, check)
    root.mainloop()
    assert done(), "timed out"


def test_a_fast_zigzag_keeps_every_corner_while_a_slow_model_reads(monkeypatch):
    """The model reads on a thread of its own: while it reads, the window still takes each motion
    event. (When the window read, Tk merged the events that waited into the last one, and a
    corner passed meanwhile was drawn as a chord.) The app runs in this process, on Xvfb."""
    import threading
    import tkinter

    from digitrec.app import window
    from digitrec.reading import predictor

    need(shutil.which("Xvfb") is not None and shutil.which("xdotool") is not None, "Xvfb and xdotool")
    monkeypatch.setattr(predictor, "Predictor", _SlowPredictor)
    corners = [(30 + 27 * k, 50 if k % 2 == 0 else 230) for k in range(9)]
    with xdriver.XSession() as session:
        root = tkinter.Tk(screenName=session.display, className="digitrec")
        try:
            app = window.App(root)
            _run_until(root, lambda: app.reader is not None and root.winfo_viewable())
            dragged = threading.Event()
            drag = threading.Thread(target=lambda: (session.drag(polyline(*corners)), dragged.set()))
            drag.start()
            _run_until(root, dragged.is_set)
            _run_until(root, lambda: root.title().startswith("digitrec — 1 "))  # the whole stroke read
            points = np.array(app.drawing.strokes[-1].points)
        finally:
            root.destroy()
    assert len(app.drawing.strokes) == 1
    shift = points[0] - corners[0]  # where the canvas is on the screen, should a window manager move it
    missed = [c for c in corners if np.hypot(*(points - shift - c).T).min() > 2]
    assert not missed, f"corners drawn as chords: {missed}"


_CLOSED_WHILE_READING = """
from PIL import Image

from digitrec.app import window
from digitrec.app.reader import Job
from digitrec.reading import predictor
from tests.app.test_window import _SlowPredictor

predictor.Predictor = _SlowPredictor
made = []


class ClosedWhileReading(window.App):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        made.append(self)
        self.root.after(10, self.read_then_close)

    def read_then_close(self):
        if self.reader is None:
            self.root.after(10, self.read_then_close)
            return
        self.reader.submit(Job(1, Image.new("L", (280, 280)), False))
        self.root.after(50, self.root.destroy)  # well before the 0.3 s reading ends


window.App = ClosedWhileReading
code = window.run_gui()
reader = made[0].reader
job, answer = reader.results.get_nowait()  # raises queue.Empty if the reading was cut off
print(code, reader._thread.is_alive(), job.ticket, answer.digit)
"""


def test_closing_the_window_lets_a_reading_under_way_finish():
    """`digitrec gui` returns only once the reader's thread has ended: a model is never cut off
    in the middle of a reading by the interpreter's exit. (In a process of its own: Tk keeps its
    connection to a display it has used, and dies when that Xvfb goes.)"""
    need(shutil.which("Xvfb") is not None, "Xvfb")
    with xdriver.XSession() as session:
        done = subprocess.run(
            [sys.executable, "-c", _CLOSED_WHILE_READING], env=session.env, cwd=REPO, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.splitlines()[-1].split() == ["0", "False", "1", "1"]


def test_a_missing_model_is_a_dialog_with_the_fix_not_a_traceback(tmp_path):
    need(shutil.which("Xvfb") is not None and shutil.which("xdotool") is not None, "Xvfb and xdotool")
    with xdriver.XSession() as session:
        app = session.launch_gui("--model", str(tmp_path / "no-such-model.keras"))
        session.wait_title(lambda t: t.endswith("no model"), timeout=90)
        deadline = time.monotonic() + 20  # the dialog opens just after the title changes
        while not session.xdotool("search", "--name", "digitrec: no model") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.xdotool("search", "--name", "digitrec: no model"), "the error dialog is open"
        assert app.poll() is None  # the app is still up, showing the dialog
    assert "Traceback" not in app.stderr.read()


def test_the_shipped_model_reads_digits_and_turns_away_letters_drawn_with_the_mouse():
    """0-9 with real mouse strokes: a 4 in two strokes, a 5 with its flag drawn last, a 1 as a
    single line, an 8 in one looping stroke; then ten capitals and two marks that a digits-only
    model reads as 4, 5 or 8 (A E F H K M N X W Y + and three bars): at least 10 of the 12 get
    "no digit". The app answers from the shipped LiteRT file."""
    from digitrec.store import PRETRAINED

    need(shutil.which("Xvfb") is not None and shutil.which("xdotool") is not None, "Xvfb and xdotool")
    with xdriver.XSession() as session:
        session.launch_gui("--model", str(PRETRAINED.parent))
        session.wait_title(lambda t: t.endswith("draw a digit"), timeout=90)
        answers = read_drawings(session, PEOPLE_DIGITS)
        marks = read_drawings(session, xdriver.PEOPLE_MARKS)
        status = session.xdotool("getwindowname", session.open_window())
    assert answers == {d: d for d in PEOPLE_DIGITS}
    assert sum(answer == "no digit" for answer in marks.values()) >= 10, marks
    # The last mark, three bars: "no digit" as the model's doubt, which keeps its best guess.
    assert re.search(r"— no digit, probably a \d \(\d+%\)$", status), status


def test_the_number_box_and_the_open_and_save_buttons(tmp_path):
    """The tool row, used from the keyboard as Tk's focus order gives it (Tab: Clear, Undo, Eraser,
    Brush, Number, Open…, Save…): Number reads two drawn digits as one number; Save… writes the
    drawing through Tk's own file dialog, and Open… brings it back to the same answer."""
    from PIL import Image

    from digitrec.store import PRETRAINED

    need(shutil.which("Xvfb") is not None and shutil.which("xdotool") is not None, "Xvfb and xdotool")
    saved = tmp_path / "drawing.png"
    with xdriver.XSession() as session:
        session.launch_gui("--model", str(PRETRAINED.parent))
        session.wait_title(lambda t: t.endswith("draw a digit"), timeout=90)
        session.drag(line((70, 50), (66, 230), steps=20))  # a 1
        session.drag(polyline((130, 60), (250, 60), (170, 230)))  # and a 7 beside it
        alone = _answer(session)
        assert not alone.startswith("digitrec — 17 ")
        session.key(*["Tab"] * 5, "space")  # Number on
        assert session.wait_settled(lambda t: t.startswith("digitrec — 17 ("), timeout=20)
        session.key("space")  # and off again
        assert session.wait_settled(lambda t: t == alone, timeout=20)

        session.key("Tab", "Tab", "space")  # Save…
        _dialog(session, "Save the drawing", saved)
        deadline = time.monotonic() + 10
        while not saved.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        with Image.open(saved) as image:
            drawn = np.asarray(image.convert("L"))
        assert image.format == "PNG" and drawn.shape == (280, 280) and (drawn < 128).sum() > 500

        _clear(session)
        session.key("shift+Tab", "space")  # Open…
        _dialog(session, "Open an image of a digit", saved)
        assert session.wait_settled(lambda t: t == alone, timeout=20)  # the same drawing, the same answer
        assert not [p for p in tmp_path.iterdir() if p != saved]  # written whole, no temporary left


def _dialog(session, title: str, path) -> None:
    """Tk's file dialog: its name box has the focus; a full path and Return choose the file."""
    deadline = time.monotonic() + 20
    while not (found := session.xdotool("search", "--name", f"^{title}$")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, f"no {title!r} dialog"
    window = found.splitlines()[0]
    session.xdotool("windowfocus", "--sync", window)  # then real key presses, as typed
    session.xdotool("type", str(path))
    session.xdotool("key", "Return")
