"""The drawing app's "Inside" window: which pixels decided the answer (the attribution map over
the 28x28 the model saw) and each convolution and pooling layer's first feature maps, updated as
the drawing changes; clicking a digit's bar in the main window asks "why (not) this digit?".

The explanation (`digitrec.reading.explain`: occlusion on the model's LiteRT file, or integrated
gradients with TensorFlow for a Keras-only model) is opened in a background thread the first time
the window opens, and every explanation runs there too, the latest drawing only, so drawing never
waits for it.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from digitrec.reading.explain import scaled_maps

CELL = 6  # screen pixels per input pixel in the attribution view
TILE = 48  # side of one feature map
CHANNELS = 8  # maps shown per layer
TITLE = "inside the network"


def attribution_image(image: np.ndarray, attribution: np.ndarray, cell: int = CELL) -> Image.Image:
    """The 28x28 input in grey with the attribution in red over it (its peak at full red)."""
    heat = attribution / max(float(attribution.max()), 1e-12)
    ink = 90 * np.clip(image, 0, 1)
    rgb = np.stack([ink + (255 - ink) * heat, ink, ink], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").resize((28 * cell, 28 * cell), Image.Resampling.NEAREST)


def layers_image(layers: list[Any], channels: int = CHANNELS, tile: int = TILE) -> Image.Image:
    """One row per layer: its name and shape, then its first `channels` maps, each scaled on its own."""
    label_h = 14
    width = channels * (tile + 2) + 2
    out = Image.new("RGB", (width, max(1, len(layers)) * (tile + label_h + 4)), "white")
    draw = ImageDraw.Draw(out)
    for row, layer in enumerate(layers):
        top = row * (tile + label_h + 4)
        h, w, c = layer.maps.shape
        draw.text((2, top), f"{layer.name}  {layer.kind}  {h}x{w}x{c}", fill="black")
        for k, m in enumerate(scaled_maps(layer, channels)):
            tile_image = Image.fromarray((m * 255).astype(np.uint8)).resize((tile, tile), Image.Resampling.NEAREST)
            out.paste(tile_image.convert("RGB"), (2 + k * (tile + 2), top + label_h))
    return out


class InsideView:
    """A Toplevel window beside the app. `show(array, digit)` asks for an explanation of the 28x28
    `array` (for `digit`, or the answer when None); it appears when ready."""

    def __init__(self, tk, root, predictor):
        self.tk, self.root, self.predictor = tk, root, predictor
        self.window = tk.Toplevel(root)
        root.update_idletasks()  # beside the app, not over its canvas (where no window manager places it)
        self.window.geometry(f"+{root.winfo_rootx() + root.winfo_width() + 12}+{root.winfo_rooty()}")
        self.window.title(f"{TITLE} — loading…")
        self.window.protocol("WM_DELETE_WINDOW", self.close)
        self.why = tk.StringVar(value="loading the model…")
        tk.Label(self.window, textvariable=self.why, font=("TkDefaultFont", 12, "bold")).pack(pady=(6, 0))
        tk.Label(self.window, text="red: the pixels that decided it\nclick a bar to ask about another digit").pack()
        self.attribution = tk.Label(self.window, bg="black")
        self.attribution.pack(pady=4)
        self.layers = tk.Label(self.window, bg="white")
        self.layers.pack(padx=6, pady=(0, 6))
        self._photos: list[Any] = []  # PhotoImages, kept so Tk does not lose them
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self.open = True
        self.last_update_ms: float | None = None
        threading.Thread(target=self._work, daemon=True).start()
        root.after(50, self._poll)

    def show(self, array: np.ndarray | None, digit: int | None = None, nothing: str | None = None) -> None:
        """Explain `array` (the answer, or `digit`); None: an empty canvas, or with `nothing` (the
        reason) a drawing that holds no digit by its ink: nothing to explain."""
        self._requests.put((array, digit, time.perf_counter(), nothing))

    def close(self) -> None:
        self.open = False
        self._requests.put(None)
        self.window.destroy()

    def _work(self) -> None:
        from digitrec.reading import explain

        try:
            model = explain.network_of(self.predictor)
        except Exception as exc:  # noqa: BLE001 - said in the window, not a terminal traceback
            self._results.put(("error", f"cannot look inside this model: {exc}"))
            return
        while True:
            item = self._requests.get()
            while not self._requests.empty():  # only the latest drawing matters
                item = self._requests.get()
            if item is None:
                return
            array, digit, asked, nothing = item
            if array is None:
                self._results.put(("empty", nothing))
                continue
            result = explain.explain(model, array, digit)
            self._results.put(("ready", (result, asked)))

    def _poll(self) -> None:
        if not self.open:
            return
        try:
            while True:
                kind, payload = self._results.get_nowait()
                self._render(kind, payload)
        except queue.Empty:
            pass
        self.root.after(30, self._poll)

    def _render(self, kind: str, payload: Any) -> None:
        from PIL import ImageTk

        if kind == "error":
            self.why.set(payload)
            self.window.title(f"{TITLE} — unavailable")
            return
        if kind == "empty":  # no map of nothing: the last drawing's views go too
            self.why.set(f"nothing to explain: {payload}" if payload else "draw a digit")
            self.window.title(f"{TITLE} — {'no digit' if payload else 'draw a digit'}")
            self._photos = []
            self.attribution.configure(image="")
            self.layers.configure(image="")
            return
        result, asked = payload
        answer = int(np.argmax(result.probabilities))
        question = f"why {result.digit}?" if result.digit == answer else f"why not {result.digit}?"
        self.why.set(f"{question}  ({result.probabilities[result.digit]:.0%})")
        self._photos = [
            ImageTk.PhotoImage(attribution_image(result.image, result.attribution)),
            ImageTk.PhotoImage(layers_image(result.layers)),
        ]
        self.attribution.configure(image=self._photos[0])
        self.layers.configure(image=self._photos[1])
        self.window.title(f"{TITLE} — {question}")
        self.last_update_ms = (time.perf_counter() - asked) * 1000
