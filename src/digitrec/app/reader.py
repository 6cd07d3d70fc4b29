"""The app's model, on a thread of its own: the window hands it drawings and collects answers.

While the model reads, the window keeps taking the mouse's motion. Were the window to read, Tk
would merge the motion events that wait meanwhile into the last one, and a stroke's corner passed
in that time would be drawn as a chord: on a slow or busy machine a 7 became a slanted 1. Only the
latest drawing matters: a drawing that waits is replaced by a newer one. Needs no display.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

TITLE = "digitrec"


@dataclass(frozen=True)
class Job:
    """One drawing to read: `number` reads it as a number; `ticket` says which request it was."""

    ticket: int
    image: Image.Image
    number: bool


class Reader:
    """Reads `Job`s with `predictor` on a daemon thread, one at a time, the latest first.

    `results` receives `(job, answer)` or `(job, exception)`; `close` ends the thread."""

    def __init__(self, predictor: Any):
        self.predictor = predictor
        self.results: queue.Queue = queue.Queue()
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="digitrec-reader", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self, timeout: float | None = None) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            while job is not None and not self._jobs.empty():  # only the latest drawing matters
                job = self._jobs.get()
            if job is None:
                return
            try:
                read = self.predictor.predict_number if job.number else self.predictor.predict_image
                self.results.put((job, read(job.image)))
            except Exception as exc:  # noqa: BLE001 - the window says it; the thread goes on
                self.results.put((job, exc))


def describe(answer: Any) -> tuple[str, str]:
    """(big text, title text) for a Prediction or NumberPrediction."""
    if hasattr(answer, "number"):
        if answer.number is None:
            return "?", f"{TITLE} — no number"
        conf = min(d.confidence for d in answer.digits)
        return answer.number, f"{TITLE} — {answer.number} ({conf:.0%})"
    if answer.digit is None:
        guess = answer.guess_words()
        return "?", f"{TITLE} — no digit" + (f", {guess}" if guess else "")
    return str(answer.digit), f"{TITLE} — {answer.digit} ({answer.confidence:.0%})"


def status_line(answer: Any) -> str:
    """The line under the answer: why there is no digit, else how sure (or how many digits)."""
    reason = getattr(answer, "reason", None)
    if reason:
        return reason
    return f"{answer.confidence:.1%} sure" if hasattr(answer, "confidence") else f"{len(answer.digits)} digits"


def seen(answer: Any) -> tuple[Any, np.ndarray | None]:
    """What the bars and the preview show: the ten probabilities (a number's last digit's) and the
    28x28 the model saw (a number's digits side by side); None for a number of no digits."""
    if not hasattr(answer, "number"):
        return answer.probabilities, answer.preprocessed
    if not answer.digits:
        return None, None
    return answer.digits[-1].probabilities, np.hstack([d.preprocessed for d in answer.digits])
