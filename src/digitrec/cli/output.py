"""What the command line's subcommands share: where progress goes, the default-model line, the
failure line, JSON on stdout, and PNG files written whole under names that do not collide."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The most test images `predict --random N` draws in its grid; all N are in --csv and --json.
GRID_MOST = 100


def log_to(as_json: bool) -> Any:
    """Where progress lines go: stderr when stdout carries JSON."""
    return (lambda msg: print(msg, file=sys.stderr)) if as_json else print


def say_default_model(choice, log_format: str = "text") -> None:
    """When no --model was given, name on stderr the model that answers."""
    if choice.default:
        _say(f"digitrec: using {choice.describe()}", log_format, "warning")


def say_failure(args: argparse.Namespace, line: str) -> None:
    """Why the command failed, one line on stderr."""
    _say(f"digitrec: {line}", getattr(args, "log_format", "text"), "error")


def _say(line: str, log_format: str, level: str) -> None:
    """A line on stderr; a JSON object for `serve --log-format json`, whose every line a log
    pipeline reads as JSON."""
    if log_format == "json":
        from digitrec.web.logs import ServerLog

        ServerLog("json")(line, level=level)
    else:
        print(line, file=sys.stderr)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def unique_path(folder: Path, stem: str, used: set[str]) -> Path:
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return folder / name


def save_png(image, path: Path) -> None:
    from digitrec.files import atomic_path

    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
