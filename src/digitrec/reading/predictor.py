"""Predictor: load a model once, answer arrays, images, files, digits and numbers.

Every front end (CLI, GUI, web, batch) uses `Predictor` with `preprocess`, so an image gets the
same answer wherever it comes in; `rules` decides when it holds no digit, `answers` holds what
comes back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import runtime, store
from digitrec.errors import DigitrecError
from digitrec.reading import preprocess, rules, segment
from digitrec.reading.answers import Failure, NumberPrediction, Prediction
from digitrec.reading.images import MAX_PIXELS, ImageError, ImageSource

__all__ = ["Predictor"]


class Predictor:
    """A loaded model and the rules that turn its probabilities into answers.

    Args:
      model: a model path or run folder (None: the newest run), or an already loaded Keras model.
      min_confidence: below this, the answer is "uncertain" (digit None); None: the one the
        model's run records (`min_confidence` in metadata.json), else `rules.MIN_CONFIDENCE`.
      runs_root: where to look for the newest run.
      min_pair_confidence: answer "no digit" when the two likeliest digits together are below
        this, instead of judging the best guess alone; None: the one the model records
        (`min_pair_confidence`, the shipped model's), unless `min_confidence` is given.
    """

    def __init__(
        self,
        model: Any = None,
        min_confidence: float | None = None,
        runs_root: str | os.PathLike | None = None,
        max_pixels: int = MAX_PIXELS,
        min_pair_confidence: float | None = None,
    ):
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
        recorded = self.choice.metadata.get("min_confidence", rules.MIN_CONFIDENCE)
        self.min_confidence = float(recorded if min_confidence is None else min_confidence)
        # The model's own rule; a threshold the user sets (--min-confidence) is on the best guess.
        pair = self.choice.metadata.get("min_pair_confidence") if min_confidence is None else None
        pair = pair if min_pair_confidence is None else min_pair_confidence
        self.min_pair_confidence = None if pair is None else float(pair)
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
        if not len(x):
            return np.zeros((0, self.num_classes))
        return runtime.in_batches(self.model.predict, x, batch_size).astype(np.float64)

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
        verdict = rules.judge_ink(pre, probs[best]) if pre is not None else None
        pair = self.min_pair_confidence if min_confidence is None else None
        if pair is not None and len(probs) > 1:
            second = max((i for i in range(len(probs)) if i != best), key=lambda i: probs[i])
            score = probs[best] + probs[second]
            verdict = verdict or rules.judge_pair(best, second, score, pair, self.knows_non_digits)
        else:
            score = probs[best]
            threshold = self.min_confidence if min_confidence is None else min_confidence
            verdict = verdict or rules.judge_confidence(best, score, threshold, self.knows_non_digits)
        return Prediction(
            None if verdict else best,
            probs[best],
            probs,
            verdict.reason if verdict else None,
            verdict.kind if verdict else None,
            file,
            pre.array if pre is not None else None,
            pre.steps if pre is not None else None,
            self.name,
            1.0 - score if self.knows_non_digits else None,
        )

    # ------------------------------------------------------------ images

    def predict_image(self, source: ImageSource, file: str | None = None, steps: bool = False) -> Prediction:
        """One image of one digit (path, bytes, PIL image or array) -> Prediction (with `steps`,
        its `steps` holds the preprocessing's intermediate images)."""
        pre = preprocess.to_mnist_array(source, return_steps=True, max_pixels=self.max_pixels, images=steps)
        return self.answer(self.predict_arrays(pre.array)[0], pre, file)

    def predict_number(self, source: ImageSource, file: str | None = None) -> NumberPrediction:
        """One image of a row of digits -> NumberPrediction (number None if any digit is unsure).

        Where a group of ink could be one digit or several touching ones, the model reads every
        way and the reading it is surest of (highest product of the digits' probabilities) wins.
        """
        groups = segment.segment_number(source, max_pixels=self.max_pixels)
        if not groups:
            return NumberPrediction(None, [], rules.NO_INK_FOUND.reason, file, self.name)
        flat = [piece for alternatives in groups for alt in alternatives for piece in alt]
        probs = iter(self.predict_arrays(np.stack([p.array for p in flat])))
        digits: list[Prediction] = []
        for alternatives in groups:
            scored = []
            for alt in alternatives:
                answers = [
                    self.answer(next(probs), min_confidence=min(self.min_confidence, rules.NUMBER_MIN_CONFIDENCE))
                    for _ in alt
                ]
                for answer, piece in zip(answers, alt):
                    answer.preprocessed = piece.array
                # Each extra cut must earn its place: a penalty keeps a wide 0 or 8 whole unless
                # the cut pieces are read far more surely than the whole, or the whole is much
                # wider than a digit is.
                score = rules.reading_score(
                    [a.confidence for a in answers], [segment.ink_aspect(piece.array) for piece in alt]
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
                    except ImageError as exc:
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
                except ImageError as exc:
                    results[str(path)] = Failure(str(path), str(exc))
            if ready:
                probs = self.predict_arrays(np.stack([pre.array for _, pre in ready]))
                for (name, pre), row in zip(ready, probs):
                    results[name] = self.answer(row, pre, name)
            for path in chunk:
                yield results[str(path)]
