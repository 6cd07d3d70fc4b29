"""The argparse types of the command line: a value out of range is bad usage, named in one line."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def count(least: int = 1, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [least, most]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least or (most is not None and value > most):
            span = f"at least {least}" if most is None else f"between {least} and {most}"
            raise argparse.ArgumentTypeError(f"must be {span}, not {value}")
        return value

    return parse


def _number(text: str, what: str, fits: Callable[[float], bool], span: str) -> float:
    """`text` as a float that `fits`, or bad usage: "'x' is not {what}" / "must be {span}, not x"."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not fits(value):
        raise argparse.ArgumentTypeError(f"must be {span}, not {text}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a probability, 0 to 1."""
    return _number(text, "a number", lambda v: 0.0 <= v <= 1.0, "between 0 and 1")


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    return _number(text, "a number of seconds", lambda v: 0.0 < v < float("inf"), "a positive number of seconds")
