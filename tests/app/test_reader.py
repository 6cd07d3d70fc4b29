"""The app's reader: drawings read off Tk's thread, the latest first; what its answers show."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from digitrec.app.reader import Job, Reader, seen, status_line
from digitrec.reading.answers import NumberPrediction, Prediction


class _Held:
    """A predictor that holds its first reading until `go` is set, and records what it read."""

    def __init__(self):
        self.go, self.started = threading.Event(), threading.Event()
        self.read: list[tuple[str, int]] = []

    def predict_image(self, image):
        self.started.set()
        self.go.wait(10)
        self.read.append(("image", image.getpixel((0, 0))))
        if image.getpixel((0, 0)) == 13:
            raise ValueError("an unreadable drawing")
        return Prediction(3, 0.9, [0.0] * 3 + [0.9] + [0.0] * 6)

    def predict_number(self, image):
        self.read.append(("number", image.getpixel((0, 0))))
        return NumberPrediction("42", [])


def _job(ticket: int, number: bool = False, pixel: int | None = None) -> Job:
    return Job(ticket, Image.new("L", (4, 4), ticket if pixel is None else pixel), number)


def _results(reader: Reader, count: int) -> list:
    return [reader.results.get(timeout=10) for _ in range(count)]


def test_drawings_that_wait_are_replaced_by_the_latest():
    predictor = _Held()
    reader = Reader(predictor)
    reader.submit(_job(1))
    assert predictor.started.wait(10)
    for ticket in (2, 3, 4):  # drawn while the first is read: only the last one is read next
        reader.submit(_job(ticket))
    predictor.go.set()
    (first, a), (last, b) = _results(reader, 2)
    reader.close(timeout=10)
    assert [first.ticket, last.ticket] == [1, 4] and a.digit == b.digit == 3
    assert predictor.read == [("image", 1), ("image", 4)]
    assert reader.results.empty()


def test_a_number_is_read_as_a_number_and_an_error_is_an_answer_that_leaves_the_reader_running():
    predictor = _Held()
    predictor.go.set()
    reader = Reader(predictor)
    reader.submit(_job(1, pixel=13))
    ((job, error),) = _results(reader, 1)
    assert job.ticket == 1 and isinstance(error, ValueError) and "unreadable" in str(error)
    reader.submit(_job(2, number=True))
    ((job, answer),) = _results(reader, 1)
    assert job.ticket == 2 and answer.number == "42"
    reader.close(timeout=10)
    assert not reader._thread.is_alive()


def test_what_an_answer_shows():
    bars = [0.05] * 9 + [0.55]
    sure = Prediction(9, 0.55, bars, preprocessed=np.ones((28, 28), np.float32))
    assert seen(sure)[0] == bars and seen(sure)[1].shape == (28, 28)
    assert status_line(sure) == "55.0% sure"
    unsure = Prediction(None, 0.4, bars, "uncertain: best guess 9 at 40%", "uncertain")
    assert status_line(unsure) == "uncertain: best guess 9 at 40%"
    digits = [Prediction(d, 0.9, [0.1] * 10, preprocessed=np.full((28, 28), d, np.float32)) for d in (4, 2)]
    probabilities, preview = seen(NumberPrediction("42", digits))
    assert probabilities is digits[-1].probabilities and preview.shape == (28, 56)
    assert preview[0, 0] == 4 and preview[0, 28] == 2
    assert seen(NumberPrediction(None, [])) == (None, None)
    assert status_line(NumberPrediction("42", digits)) == "2 digits"


@pytest.mark.parametrize("number", [False, True])
def test_a_closed_reader_reads_nothing_more(number):
    predictor = _Held()
    predictor.go.set()
    reader = Reader(predictor)
    reader.close(timeout=10)
    reader.submit(_job(1, number=number))
    assert not reader._thread.is_alive() and predictor.read == []
