"""Bad usage the parser cannot see: flags given together that the command would ignore, and an
output named where the other kind is (a file for a folder), each one line and exit code 2 before
anything is read; and a library option in the command line's words."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["conflicts", "flag", "misplaced_output"]

# Options whose flag is not their name with dashes.
FLAGS = {"members": "--ensemble"}


def conflicts(args: argparse.Namespace) -> str | None:
    """Flags given together that the command would ignore or cannot honour, or an output named
    wrong: what is wrong, in one line (exit 2), or None."""
    own = {"predict": _predict_conflicts, "ensemble": _ensemble_conflicts}.get(args.command)
    return (own(args) if own else None) or misplaced_output(args)


def _ensemble_conflicts(args: argparse.Namespace) -> str | None:
    from digitrec.training.ensemble import members_problem  # the library's own rule, said as usage

    return members_problem(args.runs)


def _predict_conflicts(args: argparse.Namespace) -> str | None:
    given = {name for name in ("number", "show_steps", "save_preprocessed", "grid", "seed", "dataset")
             if getattr(args, name) not in (None, False)}  # fmt: skip
    if args.random and args.inputs:
        return "give image files or --random N, not both"
    if args.random:
        mine = sorted(given & {"number", "show_steps", "save_preprocessed"})
        if mine:
            return f"{flag(mine[0])} reads your images; --random N reads test images (their grid: --grid)"
        return None
    if not args.inputs:
        return "give image files or folders, or --random N"
    theirs = sorted(given & {"grid", "seed", "dataset"})
    if theirs:
        return f"{flag(theirs[0])} goes with --random N"
    if args.number and args.show_steps:
        return "--show-steps charts one digit's steps; with --number, --save-preprocessed writes each digit"
    return None


# Each command's outputs: (option, whether it names a folder).
OUTPUTS = {
    "predict": (("csv", False), ("grid", False), ("save_preprocessed", True), ("show_steps", True)),
    "explain": (("out", True),),
    "evaluate": (("out", True),),
    "export": (("out", True),),
}


# Names no one gives a folder: a folder option named so is a file's name (`export --out
# model.tflite` made a folder of that name, with model.tflite inside).
FILE_SUFFIXES = frozenset(".tflite .keras .h5 .onnx .pb .png .jpg .jpeg .svg .pdf .csv .json .txt".split())


def misplaced_output(args: argparse.Namespace) -> str | None:
    """An output that would fail only after every image was read: a file named where a folder is,
    or a folder where a file is; or a file's name given where the command wants a folder."""
    for name, folder in OUTPUTS.get(args.command, ()):
        where = getattr(args, name, None)
        if not where:
            continue
        if Path(where).exists() and Path(where).is_dir() != folder:
            wanted, found = ("folder", "file") if folder else ("file", "folder")
            return f"{flag(name)} {where} is a {found}; give a {wanted}"
        if folder and not Path(where).exists() and Path(where).suffix.lower() in FILE_SUFFIXES:
            return f"{flag(name)} {where} names a file; give the folder to write into (the command names its files)"
    return None


def flag(option: str) -> str:
    """The command line's flag for a library option (a TrainConfig field, a keyword argument)."""
    return FLAGS.get(option, "--" + option.replace("_", "-"))
