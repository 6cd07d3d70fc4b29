"""What the Predictor answers: a digit (`Prediction`), a number (`NumberPrediction`), or an input
that could not be read (`Failure`); each turns into the JSON every front end shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitrec.reading.rules import DOUBT_KINDS


@dataclass
class Prediction:
    """The answer for one digit image: a digit, or "no digit" (`digit` None) with its kind
    (`no_digit`, one of `rules.NO_DIGIT_KINDS`) and the reason in words."""

    digit: int | None
    confidence: float
    probabilities: list[float]
    reason: str | None = None
    no_digit: str | None = None
    file: str | None = None
    preprocessed: np.ndarray | None = field(default=None, repr=False)
    steps: dict[str, np.ndarray] | None = field(default=None, repr=False)  # what preprocessing did
    model: str | None = None  # the name of the model that answered
    # For a model trained with non-digits (`--open-set`): its own score that this is not a digit,
    # 1 - the best digit's probability ("no digit" above 1 - min_confidence), or 1 - the two
    # likeliest digits' for a model that answers by them (`min_pair_confidence`). None otherwise.
    not_digit_score: float | None = None

    def __post_init__(self) -> None:
        if (self.reason is None) != (self.no_digit is None):
            raise ValueError("a 'no digit' answer needs both its kind and its reason")

    @property
    def best_guess(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def guess(self) -> int | None:
        """Where "no digit" is the model's doubt (not a digit, uncertain), its best guess, for a
        user to see "probably a 1 (64%)" and decide; None for a digit, or where the ink rules
        found none (a blank page has no guess)."""
        return self.best_guess if self.no_digit in DOUBT_KINDS else None

    def guess_words(self) -> str | None:
        """ "probably a 1 (64%)" where there is a guess."""
        return None if self.guess is None else f"probably a {self.guess} ({self.confidence:.0%})"

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
        if self.guess is not None:
            out["best_guess"] = self.guess
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
