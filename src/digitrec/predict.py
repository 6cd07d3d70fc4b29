"""Predictor: load a model once, answer arrays, images, files and folders, digits and numbers.

Every front end (CLI, GUI, web, batch) uses `Predictor` with `digitrec.preprocess`, so an image
gets the same answer wherever it comes in. A prediction is a digit with its probability and all
ten probabilities, or "no digit" (`digit` None) with the reason:

- no ink: a blank page, or ink too faint to tell from the paper;
- scattered: ink over too much of the picture, or in too many pieces (noise, texture, a photo);
- not digit-shaped: more than two closed loops, or a figure of several separate parts (a grid,
  a face, a scribble);
- uncertain: the model's best guess is below `min_confidence`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import DigitrecError, preprocess, segment

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}

# "No digit" rules. Measured on tests/realistic.py's set (docs/prediction.md).
MIN_CONFIDENCE = 0.90
# A model trained with non-digits (`--open-set`) gives them about a tenth for every digit, and real
# digits stay sure: its runs record this lower threshold in metadata.json, which answers use.
OPEN_SET_MIN_CONFIDENCE = 0.50
MAX_INK_FRACTION = 0.40  # of the working image (a huge marker digit reaches 0.38)
MAX_COMPONENTS = 6
MAX_HOLES = 2  # an 8 has two loops
MAX_PIECES = 3  # a digit drawn in up to three separate strokes
SPLIT_PENALTY = -0.5  # log-probability cost of reading one group of ink as one more digit
# Log-probability cost per unit of a piece's width over its height beyond 1: handwritten digits
# are rarely wider than tall, so a wide piece read surely as one digit is often two touching ones.
WIDE_PENALTY = -1.0
# In a number the user has told us these are digits: only a real toss-up makes it unreadable.
NUMBER_MIN_CONFIDENCE = 0.50


@dataclass
class Prediction:
    """The answer for one digit image."""

    digit: int | None
    confidence: float
    probabilities: list[float]
    reason: str | None = None
    file: str | None = None
    preprocessed: np.ndarray | None = field(default=None, repr=False)
    steps: dict[str, np.ndarray] | None = field(default=None, repr=False)  # what preprocessing did
    model: str | None = None  # the name of the model that answered
    # For a model trained with non-digits (`--open-set`): its own score that this is not a digit,
    # 1 - the best digit's probability ("no digit" above 1 - min_confidence). None otherwise.
    not_digit_score: float | None = None

    @property
    def no_digit(self) -> str | None:
        """What kind of "no digit" this is: "no ink", "scattered", "not digit-shaped", "not a
        digit" (the model's own doubt, for a model trained with non-digits) or "uncertain"."""
        if self.reason is None:
            return None
        for start, kind in NO_DIGIT_KINDS:
            if self.reason.startswith(start) or start in self.reason:
                return kind
        return "uncertain"

    @property
    def best_guess(self) -> int:
        return int(np.argmax(self.probabilities))

    def top_k(self, k: int = 3) -> list[tuple[int, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(i), float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "digit": self.digit,
            "confidence": round(self.confidence, 6),
            "probabilities": [round(p, 6) for p in self.probabilities],
        }
        if self.reason:
            out["no_digit"] = self.no_digit
            out["reason"] = self.reason
        if self.not_digit_score is not None:
            out["not_digit_score"] = round(self.not_digit_score, 6)
        if self.model:
            out["model"] = self.model
        return out


@dataclass
class NumberPrediction:
    """The answer for an image of several digits in a row."""

    number: str | None
    digits: list[Prediction]
    reason: str | None = None
    file: str | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "number": self.number,
            "digits": [{k: v for k, v in d.to_dict().items() if k not in ("file", "model")} for d in self.digits],
        }
        if self.reason:
            out["reason"] = self.reason
        if self.model:
            out["model"] = self.model
        return out


@dataclass
class Failure:
    """An input that could not be read."""

    file: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "error": self.error}


# How each "no digit" sentence starts (or what it holds), and its kind (Prediction.no_digit).
NO_DIGIT_KINDS = (
    ("no ink", "no ink"),
    ("ink covers", "scattered"),
    ("scattered pieces", "scattered"),
    ("closed loops", "not digit-shaped"),
    ("separate parts", "not digit-shaped"),
    ("not a digit", "not a digit"),
    ("uncertain", "uncertain"),
)


def no_digit_reason(pre: preprocess.Preprocessed) -> str | None:
    """Why an image holds no digit, judged from the ink alone (before the model is asked)."""
    if pre.ink_fraction == 0.0 or not pre.array.any():
        return "no ink found (a blank or too faint image)"
    if pre.ink_fraction > MAX_INK_FRACTION:
        return f"ink covers {pre.ink_fraction:.0%} of the image: noise or a picture, not a digit"
    if pre.components > MAX_COMPONENTS:
        return f"ink in {pre.components} scattered pieces: noise, not a digit"
    if pre.holes > MAX_HOLES:
        return f"{pre.holes} closed loops: a drawing, not a digit (an 8 has two)"
    if pre.pieces > MAX_PIECES:
        return f"a figure of {pre.pieces} separate parts: a drawing, not a digit"
    return None


class Predictor:
    """A loaded model and the rules that turn its probabilities into answers.

    Args:
      model: a model path or run folder (None: the newest run), or an already loaded Keras model.
      min_confidence: below this, the answer is "uncertain" (digit None); None: the one the
        model's run records (`min_confidence` in metadata.json), else `MIN_CONFIDENCE`.
      runs_root: where to look for the newest run.
    """

    def __init__(
        self,
        model: Any = None,
        min_confidence: float | None = None,
        runs_root: str | os.PathLike | None = None,
        max_pixels: int = preprocess.MAX_PIXELS,
    ):
        from . import runtime, store

        if model is None or isinstance(model, (str, os.PathLike)):
            self.choice = store.resolve_model(model, runs_root)
            self.model = runtime.load_runtime(self.choice)
        else:  # an already loaded Keras model
            name = getattr(model, "name", "model")
            self.choice = store.ModelChoice(Path(name), "keras", name=name)
            self.model = runtime.KerasModel(model)
        self.source = str(self.choice.path)
        self.name = self.choice.name
        self.backend = self.model.backend
        shape = tuple(int(d) for d in self.model.input_shape[1:])
        if shape != (28, 28, 1):
            raise DigitrecError(f"{self.source} takes images of shape {shape}; digit prediction needs a 28x28x1 model")
        self.num_classes = int(self.model.output_shape[-1])
        recorded = self.choice.metadata.get("min_confidence", MIN_CONFIDENCE)
        self.min_confidence = float(recorded if min_confidence is None else min_confidence)
        # A model trained with non-digits is unsure of them on purpose: its doubt means "not a digit".
        self.knows_non_digits = bool(self.choice.metadata.get("open_set"))
        self.max_pixels = max_pixels

    def warm_up(self) -> Predictor:
        """Answer one blank image, so that the first real one is not slowed by compiling."""
        self.predict_arrays(np.zeros((1, 28, 28), np.float32))
        return self

    # ------------------------------------------------------------ arrays

    def predict_arrays(self, arrays: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, classes) for MNIST-style arrays (N, 28, 28[, 1]) in [0, 1]."""
        x = np.asarray(arrays, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[1:] != (28, 28, 1):
            raise DigitrecError(f"expected arrays of shape (N, 28, 28), got {x.shape}")
        out = [np.asarray(self.model.predict(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.num_classes))

    def answer(
        self,
        probabilities: np.ndarray,
        pre: preprocess.Preprocessed | None = None,
        file: str | None = None,
        min_confidence: float | None = None,
    ) -> Prediction:
        """Turn one row of probabilities (and the ink measures) into a Prediction."""
        probs = [float(p) for p in probabilities]
        best = int(np.argmax(probs))
        threshold = self.min_confidence if min_confidence is None else min_confidence
        reason = no_digit_reason(pre) if pre is not None else None
        if reason is None and probs[best] < threshold:
            doubt = "not a digit" if self.knows_non_digits else "uncertain"
            reason = f"{doubt}: best guess {best} at {probs[best]:.0%} (below {threshold:.0%})"
        return Prediction(
            None if reason else best,
            probs[best],
            probs,
            reason,
            file,
            pre.array if pre is not None else None,
            pre.steps if pre is not None else None,
            self.name,
            1.0 - probs[best] if self.knows_non_digits else None,
        )

    # ------------------------------------------------------------ images

    def predict_image(self, source: preprocess.ImageSource, file: str | None = None, steps: bool = False) -> Prediction:
        """One image of one digit (path, bytes, PIL image or array) -> Prediction (with `steps`,
        its `steps` holds the preprocessing's intermediate images)."""
        pre = preprocess.to_mnist_array(source, return_steps=True, max_pixels=self.max_pixels, images=steps)
        return self.answer(self.predict_arrays(pre.array)[0], pre, file)

    def predict_number(self, source: preprocess.ImageSource, file: str | None = None) -> NumberPrediction:
        """One image of a row of digits -> NumberPrediction (number None if any digit is unsure).

        Where a group of ink could be one digit or several touching ones, the model reads every
        way and the reading it is surest of (highest product of the digits' probabilities) wins.
        """
        groups = segment.segment_number(source, max_pixels=self.max_pixels)
        if not groups:
            return NumberPrediction(None, [], "no ink found (a blank or too faint image)", file, self.name)
        flat = [piece for alternatives in groups for alt in alternatives for piece in alt]
        probs = iter(self.predict_arrays(np.stack([p.array for p in flat])))
        digits: list[Prediction] = []
        for alternatives in groups:
            scored = []
            for alt in alternatives:
                answers = [
                    self.answer(next(probs), min_confidence=min(self.min_confidence, NUMBER_MIN_CONFIDENCE))
                    for _ in alt
                ]
                for answer, piece in zip(answers, alt):
                    answer.preprocessed = piece.array
                # Each extra cut must earn its place: a penalty keeps a wide 0 or 8 whole unless
                # the cut pieces are read far more surely than the whole, or the whole is much
                # wider than a digit is.
                score = (
                    sum(np.log(max(a.confidence, 1e-9)) for a in answers)
                    + SPLIT_PENALTY * (len(alt) - 1)
                    + WIDE_PENALTY * sum(max(0.0, segment.ink_aspect(piece.array) - 1.0) for piece in alt)
                )
                scored.append((score, answers))
            digits.extend(max(scored, key=lambda item: item[0])[1])
        unsure = [i for i, d in enumerate(digits) if d.digit is None]
        if unsure:
            return NumberPrediction(
                None, digits, f"digit {unsure[0] + 1} of {len(digits)} is {digits[unsure[0]].reason}", file, self.name
            )
        return NumberPrediction("".join(str(d.digit) for d in digits), digits, None, file, self.name)

    def predict_files(
        self, paths: Iterable[str | os.PathLike], number: bool = False, batch_size: int = 64, steps: bool = False
    ) -> Iterator[Prediction | NumberPrediction | Failure]:
        """Answer many files, preprocessing and predicting in batches; unreadable files give a
        Failure. With `steps`, each Prediction keeps the preprocessing's intermediate images."""
        paths = list(paths)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            if number:
                for path in chunk:
                    try:
                        yield self.predict_number(path, file=str(path))
                    except preprocess.ImageError as exc:
                        yield Failure(str(path), str(exc))
                continue
            ready: list[tuple[str, preprocess.Preprocessed]] = []
            results: dict[str, Prediction | Failure] = {}
            for path in chunk:
                try:
                    ready.append(
                        (
                            str(path),
                            preprocess.to_mnist_array(
                                path, return_steps=True, images=steps, max_pixels=self.max_pixels
                            ),
                        )
                    )
                except preprocess.ImageError as exc:
                    results[str(path)] = Failure(str(path), str(exc))
            if ready:
                probs = self.predict_arrays(np.stack([pre.array for _, pre in ready]))
                for (name, pre), row in zip(ready, probs):
                    results[name] = self.answer(row, pre, name)
            for path in chunk:
                yield results[str(path)]


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


def random_test(predictor: Predictor, count: int, seed: int | None = None, dataset: str = "mnist") -> RandomTest:
    """Pick `count` test images at random and read them (`digitrec predict --random N`)."""
    from . import data

    ds = data.load_dataset(dataset)
    if count < 1:
        raise DigitrecError("--random needs at least 1 image")
    rng = np.random.default_rng(seed)
    index = rng.choice(len(ds.x_test), size=min(count, len(ds.x_test)), replace=False)
    images = ds.x_test[index]
    answers = [predictor.answer(row) for row in predictor.predict_arrays(data.scale_images(images))]
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
