"""The Tkinter drawing app: draw a digit, see the answer and all ten probabilities live.

Strokes are drawn into an in-memory Pillow image as well as on the screen canvas (never a
screenshot of the screen), and that image goes through the same `preprocess` and `Predictor` as
every other front end. The window appears at once; the model (and TensorFlow) load in a
background thread, and the window says so until they are ready; then `reader.Reader` reads each
drawing on a thread of its own, so the window takes every motion of the mouse meanwhile.

`drawing.Drawing` holds the strokes and renders them, `reader` reads them and words the answers;
neither needs a display, and each is tested on its own.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from typing import Any

import numpy as np

from digitrec.app.drawing import BRUSHES, CANVAS, Drawing
from digitrec.app.reader import TITLE, Job, Reader, describe, seen, status_line
from digitrec.errors import DigitrecError
from digitrec.reading import rules

DEFAULT_BRUSH = 2
DEBOUNCE_MS = 120  # while a stroke goes on, predict at most this often
COLLECT_MS = 2  # while an answer is awaited, look for it this often
CLOSE_WAIT_S = 5.0  # when the window closes, wait this long at most for a reading under way


def _import_tk():
    try:
        import tkinter as tk
        from tkinter import filedialog, messagebox, ttk
    except ImportError:
        raise DigitrecError(
            "tkinter is missing: install your OS's Tk package for Python "
            "(Debian/Ubuntu: `sudo apt-get install python3-tk`; Fedora: python3-tkinter; "
            "macOS with Homebrew: python-tk)"
        ) from None
    return tk, ttk, filedialog, messagebox


class App:
    """The window. Create it with a Tk root; the model loads in the background."""

    def __init__(self, root, model: str | None = None, runs_root: str | None = None):
        tk, ttk, self._filedialog, self._messagebox = _import_tk()
        self.tk = tk
        self.root = root
        self.drawing = Drawing()
        self.reader: Reader | None = None  # reads drawings off Tk's thread once the model is loaded
        self._ticket = 0  # the last drawing handed to the reader
        self._shown_from = 0  # answers to earlier drawings are not shown: the drawing changed since
        self._answered = 0  # the last drawing answered
        self._collecting = False
        self.brush = DEFAULT_BRUSH
        self.erase = tk.BooleanVar(value=False)
        self.number_mode = tk.BooleanVar(value=False)
        self._pending = None
        self._messages: queue.Queue = queue.Queue()
        self.started = time.perf_counter()
        self.inside: Any = None  # the "Inside" window (gui_inside.InsideView) while it is open
        self.asked_digit: int | None = None  # a bar clicked while it is open: "why (not) this digit?"
        self._last_array: np.ndarray | None = None  # the 28x28 the model saw last

        self._build_canvas(tk, root)
        self._build_answer_panel(tk, ttk, root)
        self._build_tools(tk, ttk, root)
        self._bind_keys(root)
        threading.Thread(target=self._load, args=(model, runs_root), daemon=True).start()
        root.after(50, self._poll)

    # ------------------------------------------------------------ the window

    def _build_canvas(self, tk, root) -> None:
        root.title(f"{TITLE} — loading model")
        root.configure(padx=10, pady=10)
        root.resizable(False, False)

        self.canvas = tk.Canvas(
            root,
            width=CANVAS,
            height=CANVAS,
            bg="white",
            highlightthickness=1,
            highlightbackground="#888",
            cursor="pencil",
        )
        self.canvas.grid(row=0, column=0, rowspan=3, sticky="nw")

    def _build_answer_panel(self, tk, ttk, root) -> None:
        """The answer, the status line (which model answers), the ten bars, what the model sees."""
        side = ttk.Frame(root, padding=(12, 0, 0, 0))
        side.grid(row=0, column=1, sticky="n")
        self.answer_var = tk.StringVar(value="…")
        ttk.Label(
            side, textvariable=self.answer_var, font=("TkDefaultFont", 40, "bold"), width=6, anchor="center"
        ).grid(row=0, column=0, columnspan=2)
        self.status_var = tk.StringVar(value="loading the model…")
        ttk.Label(side, textvariable=self.status_var, width=28, anchor="center", wraplength=210).grid(
            row=1, column=0, columnspan=2, pady=(0, 6)
        )
        self.bars = tk.Canvas(side, width=210, height=10 * 18, highlightthickness=0)
        self.bars.grid(row=2, column=0, columnspan=2)
        ttk.Label(side, text="what the model sees").grid(row=3, column=0, columnspan=2, pady=(8, 0))
        self.preview = tk.Label(side, bg="black", width=112, height=112)
        self.preview.grid(row=4, column=0, columnspan=2)
        self._preview_image: Any = None  # a PhotoImage, kept so Tk does not lose it

    def _build_tools(self, tk, ttk, root) -> None:
        tools = ttk.Frame(root, padding=(0, 8, 0, 0))
        tools.grid(row=3, column=0, columnspan=2, sticky="w")
        ttk.Button(tools, text="Clear (Esc)", command=self.clear).grid(row=0, column=0)
        ttk.Button(tools, text="Undo (Ctrl+Z)", command=self.undo).grid(row=0, column=1)
        ttk.Checkbutton(tools, text="Eraser", variable=self.erase).grid(row=0, column=2, padx=4)
        ttk.Label(tools, text="Brush").grid(row=0, column=3)
        self.brush_var = tk.DoubleVar(value=self.brush)
        ttk.Scale(
            tools,
            from_=0,
            to=len(BRUSHES) - 1,
            orient="horizontal",
            length=70,
            variable=self.brush_var,
            command=lambda v: self.set_brush(int(round(float(v)))),
        ).grid(row=0, column=4)
        ttk.Checkbutton(tools, text="Number", variable=self.number_mode, command=self.predict_now).grid(
            row=0, column=5, padx=4
        )
        ttk.Button(tools, text="Open…", command=self.open_image).grid(row=1, column=0, pady=(4, 0))
        ttk.Button(tools, text="Save…", command=self.save_image).grid(row=1, column=1, pady=(4, 0))
        ttk.Button(tools, text="Inside (i)", command=self.toggle_inside).grid(row=1, column=2, pady=(4, 0))

    def _bind_keys(self, root) -> None:
        self.canvas.bind("<ButtonPress-1>", self._press)
        self.canvas.bind("<B1-Motion>", self._motion)
        self.canvas.bind("<ButtonRelease-1>", self._release)
        for key in ("<Escape>", "<Delete>"):
            root.bind(key, lambda e: self.clear())
        root.bind("<Control-z>", lambda e: self.undo())
        root.bind("<bracketleft>", lambda e: self.set_brush(self.brush - 1))
        root.bind("<bracketright>", lambda e: self.set_brush(self.brush + 1))
        root.bind("<i>", lambda e: self.toggle_inside())
        self.bars.bind("<ButtonPress-1>", lambda e: self.ask_about(int(e.y // 18)))
        self._draw_bars(None)

    # ------------------------------------------------------------ model loading

    def _load(self, model, runs_root) -> None:
        try:
            from digitrec.reading.predictor import Predictor

            self._messages.put(("ready", Predictor(model, runs_root=runs_root).warm_up()))
        except DigitrecError as exc:
            self._messages.put(("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in a dialog, not a terminal traceback
            self._messages.put(("error", f"{type(exc).__name__}: {exc}"))

    def _poll(self) -> None:
        try:
            kind, payload = self._messages.get_nowait()
        except queue.Empty:
            self.root.after(50, self._poll)
            return
        if kind == "ready":
            self.reader = Reader(payload)
            self.status_var.set(f"model: {payload.choice.label()}")
            print(f"digitrec gui: ready in {time.perf_counter() - self.started:.2f} s", flush=True)
            self.predict_now()
        else:
            self.root.title(f"{TITLE} — no model")
            self.answer_var.set("!")
            self.status_var.set("no model: see the message")
            self._messagebox.showerror(
                "digitrec: no model",
                f"{payload}\n\nTrain one first:\n    digitrec train\nthen start the app again, or pass --model PATH.",
            )

    # ------------------------------------------------------------ drawing

    def set_brush(self, index: int) -> None:
        """Choose a brush width by its place in BRUSHES (keys [ and ] step through them)."""
        self.brush = max(0, min(len(BRUSHES) - 1, index))
        self.brush_var.set(self.brush)

    def _press(self, event) -> None:
        width = BRUSHES[self.brush] * (2 if self.erase.get() else 1)
        self.drawing.begin(event.x, event.y, width, self.erase.get())
        r = width / 2
        colour = "white" if self.erase.get() else "black"
        self.canvas.create_oval(event.x - r, event.y - r, event.x + r, event.y + r, fill=colour, outline=colour)

    def _motion(self, event) -> None:
        previous = self.drawing.extend(event.x, event.y)
        if previous is None:
            return
        stroke = self.drawing.strokes[-1]
        colour = "white" if stroke.erase else "black"
        self.canvas.create_line(
            *previous,
            event.x,
            event.y,
            fill=colour,
            width=stroke.width,
            capstyle="round",
            joinstyle="round",
            smooth=True,
        )
        if self._pending is None:  # debounce: one prediction per DEBOUNCE_MS while drawing
            self._pending = self.root.after(DEBOUNCE_MS, self.predict_now, True)

    def _release(self, event) -> None:
        self.predict_now()

    def _redraw_canvas(self) -> None:
        from PIL import ImageTk

        self.canvas.delete("all")
        self._canvas_image = ImageTk.PhotoImage(self.drawing.image)
        self.canvas.create_image(0, 0, image=self._canvas_image, anchor="nw")

    def clear(self) -> None:
        self.drawing = Drawing()
        self.canvas.delete("all")
        self.predict_now()

    def undo(self) -> None:
        if self.drawing.undo():
            self._redraw_canvas()
            self.predict_now()

    def open_image(self, path: str | None = None) -> None:
        from digitrec.reading.images import IMAGE_SUFFIXES, ImageError, load_image

        path = path or self._filedialog.askopenfilename(
            title="Open an image of a digit",
            filetypes=[("Images", " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)), ("All files", "*")],
        )
        if not path:
            return
        try:
            image = load_image(path)
        except ImageError as exc:
            self._messagebox.showerror("digitrec", str(exc))
            return
        self.drawing.load(image)
        self._redraw_canvas()
        self.predict_now()

    def save_image(self, path: str | None = None) -> None:
        from digitrec.files import atomic_path

        path = path or self._filedialog.asksaveasfilename(
            title="Save the drawing", defaultextension=".png", filetypes=[("PNG", "*.png")]
        )
        if path:
            with atomic_path(path) as tmp:
                self.drawing.image.save(tmp, format="PNG")

    # ------------------------------------------------------------ answers

    def toggle_inside(self) -> None:
        """Open (or close) the window that shows what the network saw and which pixels decided."""
        if self.inside is not None and self.inside.open:
            self.inside.close()
            self.inside = None
            return
        if self.reader is None:
            return
        from digitrec.app.inside import InsideView

        self.inside = InsideView(self.tk, self.root, self.reader.predictor)
        self.predict_now()

    def ask_about(self, digit: int) -> None:
        """A bar was clicked: with the Inside window open, explain that digit instead of the answer."""
        if 0 <= digit <= 9 and self.inside is not None and self.inside.open:
            self.asked_digit = digit
            self.inside.show(self._last_array, digit)

    def predict_now(self, live: bool = False) -> None:
        """Hand the drawing to the reader; its answer is shown when it comes (`_collect`). `live`:
        a stroke goes on, and answers to its earlier parts may still be shown meanwhile; otherwise
        (a stroke ended, clear, undo, an opened image, Number) only an answer to this drawing."""
        if self._pending is not None:
            self.root.after_cancel(self._pending)
            self._pending = None
        if self.reader is None:
            return
        self.asked_digit = None
        if self.drawing.empty:
            self._shown_from = self._ticket + 1
            self._show_empty()
            return
        self._ticket += 1
        if not live:
            self._shown_from = self._ticket
        self.reader.submit(Job(self._ticket, self.drawing.image.copy(), self.number_mode.get()))
        if not self._collecting:
            self._collecting = True
            self.root.after(COLLECT_MS, self._collect)

    def _collect(self) -> None:
        assert self.reader is not None
        try:
            while True:
                job, answer = self.reader.results.get_nowait()
                self._answered = max(self._answered, job.ticket)
                if job.ticket >= self._shown_from:
                    self._show(job, answer)
        except queue.Empty:
            pass
        self._collecting = self._answered < self._ticket
        if self._collecting:
            self.root.after(COLLECT_MS, self._collect)

    def _show_empty(self) -> None:
        self._last_array = None
        if self.inside is not None and self.inside.open:
            self.inside.show(None)
        self.answer_var.set("…")
        self.root.title(f"{TITLE} — draw a digit")
        self._draw_bars(None)
        self._show_preview(None)

    def _show(self, job: Job, answer: Any) -> None:
        if isinstance(answer, Exception):
            self.answer_var.set("!")
            self.status_var.set(f"could not read the drawing: {answer}")
            return
        probabilities, preview = seen(answer)
        big, title = describe(answer)
        self.answer_var.set(big)
        self.status_var.set(status_line(answer))
        self._draw_bars(probabilities)
        self._show_preview(preview)
        self.root.title(title)
        self._last_array = None
        if not job.number:
            # A drawing that holds no digit by its ink (scattered, a figure) has nothing to explain.
            nothing = answer.reason if answer.digit is None and answer.no_digit not in rules.DOUBT_KINDS else None
            self._last_array = None if nothing else preview
            if self.inside is not None and self.inside.open:
                self.inside.show(None if nothing else preview, nothing=nothing)

    def _draw_bars(self, probabilities) -> None:
        self.bars.delete("all")
        best = int(np.argmax(probabilities)) if probabilities is not None else -1
        for d in range(10):
            y = d * 18
            p = float(probabilities[d]) if probabilities is not None else 0.0
            self.bars.create_text(8, y + 9, text=str(d), font=("TkDefaultFont", 10, "bold"))
            self.bars.create_rectangle(20, y + 3, 160, y + 15, outline="#bbb")
            if p > 0:
                self.bars.create_rectangle(
                    20, y + 3, 20 + 140 * p, y + 15, outline="", fill="#2a9d4b" if d == best else "#5b8fd6"
                )
            self.bars.create_text(205, y + 9, text=f"{p:.0%}", anchor="e", font=("TkDefaultFont", 9))

    def _show_preview(self, array) -> None:
        from PIL import ImageTk

        from digitrec.reading.images import to_image

        if array is None:
            array = np.zeros((28, 28), np.float32)
        image = to_image(array, 4)
        if image.width > 112 * 3:
            image = image.resize((112 * 3, int(image.height * 112 * 3 / image.width)))
        self._preview_image = ImageTk.PhotoImage(image)
        self.preview.configure(image=self._preview_image, width=image.width, height=image.height)


def run_gui(model: str | None = None, runs_root: str | None = None) -> int:
    """Open the window and run until it is closed."""
    tk, *_ = _import_tk()
    try:
        root = tk.Tk(className="digitrec")
    except tk.TclError as exc:
        raise DigitrecError(
            f"no display for the drawing app ({exc}); run it on a desktop, or set DISPLAY (for example under Xvfb)"
        ) from None
    app = App(root, model, runs_root)
    print(f"digitrec gui: window open (pid {os.getpid()})", file=sys.stderr, flush=True)
    root.mainloop()
    if app.reader is not None:  # a reading under way ends before the interpreter does
        app.reader.close(timeout=CLOSE_WAIT_S)
    return 0
