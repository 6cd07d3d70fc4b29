"""The batch side of `digitrec predict`: folders walked for images, random test images read
against the truth (`--random N`), and the answers as a CSV table (`--csv`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import OptionError
from digitrec.reading.answers import Failure, NumberPrediction, Prediction
from digitrec.reading.images import IMAGE_SUFFIXES
from digitrec.reading.predictor import Predictor


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> tuple[list[Path], list[Failure]]:
    """Files as given, and folders read recursively for image files (sorted); problems as Failures."""
    files: list[Path] = []
    problems: list[Failure] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(Failure(str(path), f"{path}: folder holds no image files"))
            files.extend(found)
        elif not path.exists():
            problems.append(Failure(str(path), f"{path}: no such file"))
        else:
            files.append(path)
    return files, problems


@dataclass
class RandomTest:
    """Random test images read by a model, against the truth."""

    index: np.ndarray  # positions in the test set
    images: np.ndarray  # uint8
    truth: np.ndarray
    answers: list[Prediction]

    @property
    def correct(self) -> int:
        return int(sum(a.best_guess == t for a, t in zip(self.answers, self.truth)))

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.answers)

    def table(self) -> list[list]:
        """The answers as CSV rows, a header first: `digitrec predict --random N --csv PATH`."""
        rows: list[list] = [["index", "true", "digit", "confidence", *[f"p{d}" for d in range(10)], "reason"]]
        for i, t, a in zip(self.index, self.truth, self.answers):
            rows.append([int(i), int(t), "" if a.digit is None else a.digit, f"{a.confidence:.6f}",
                         *[f"{p:.6f}" for p in a.probabilities], a.reason or ""])  # fmt: skip
        return rows

    def records(self) -> list[dict[str, Any]]:
        """One JSON object per image: its index, the truth, the answer, whether it is right."""
        return [
            {
                "index": int(i),
                "true": int(t),
                **{k: v for k, v in a.to_dict().items() if k != "file"},
                "correct": bool(a.best_guess == t),
            }  # fmt: skip
            for i, t, a in zip(self.index, self.truth, self.answers)
        ]


def load_test_set(dataset: Any, count: int) -> Any:
    """The test set `--random N` draws from (a name, or a Dataset already loaded), checked to hold N
    images: the command line checks it before any model loads."""
    from digitrec.data import datasets

    ds = datasets.load_dataset(dataset) if isinstance(dataset, str) else dataset
    if not 1 <= count <= len(ds.x_test):
        raise OptionError("random", f"must be between 1 and the {len(ds.x_test):,} test images, not {count:,}")
    return ds


def random_test(predictor: Predictor, count: int, seed: int | None = None, dataset: Any = "mnist") -> RandomTest:
    """Pick `count` test images at random and read them (`digitrec predict --random N`);
    `dataset`: a name, or a Dataset already loaded."""
    from digitrec.data import datasets

    ds = load_test_set(dataset, count)
    rng = np.random.default_rng(seed)
    index = rng.choice(len(ds.x_test), size=count, replace=False)
    images = ds.x_test[index]
    answers = [predictor.answer(row) for row in predictor.predict_arrays(datasets.scale_images(images))]
    return RandomTest(index, images, ds.y_test[index].astype(np.int64), answers)


def csv_table(results: Iterable[Prediction | NumberPrediction | Failure], number: bool) -> list[list]:
    """The answers as CSV rows, a header first: `digitrec predict --csv`."""
    if number:
        rows: list[list] = [["file", "number", "digits", "confidences", "reason", "error"]]
    else:
        rows = [["file", "digit", "confidence", *[f"p{d}" for d in range(10)], "reason", "error"]]
    for r in results:
        if isinstance(r, Failure):
            rows.append([r.file, *[""] * (len(rows[0]) - 2), r.error])
        elif isinstance(r, NumberPrediction):
            digits = " ".join("-" if d.digit is None else str(d.digit) for d in r.digits)
            rows.append([r.file, r.number or "", digits, " ".join(f"{d.confidence:.4f}" for d in r.digits),
                         r.reason or "", ""])  # fmt: skip
        else:
            rows.append([r.file, "" if r.digit is None else r.digit, f"{r.confidence:.6f}",
                         *[f"{p:.6f}" for p in r.probabilities], r.reason or "", ""])  # fmt: skip
    return rows
