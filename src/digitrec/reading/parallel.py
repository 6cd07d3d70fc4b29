"""Reading many files on every core: `digitrec predict FOLDER --jobs N`.

Each of N processes loads the model once and reads chunks of the files; the answers come back in
the files' order, the same answers one process gives. The processes are started fresh ("spawn"),
not forked, so nothing of the caller's threads is copied.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from typing import Any

CHUNK = 16  # files per task: large enough that handing them out costs little, small enough to balance
PARALLEL_FROM = 32  # fewer files than this are read in the calling process: starting N costs more

_predictor: Any = None  # each process's own


def _load(model: str, min_confidence: float, pair: float | None, runs_root: str | None) -> None:
    global _predictor
    from digitrec.reading.ink import single_threaded
    from digitrec.reading.predictor import Predictor

    os.environ.setdefault("DIGITREC_LITERT_THREADS", "1")  # one core per process
    single_threaded()
    _predictor = Predictor(model, min_confidence=min_confidence, runs_root=runs_root, min_pair_confidence=pair)


def _read(paths: list[str], number: bool, steps: bool) -> list:
    return list(_predictor.predict_files(paths, number=number, steps=steps))


def processes_for(files: int, jobs: int) -> int:
    """How many processes read `files` files when `jobs` are allowed: 1 below PARALLEL_FROM files."""
    if jobs <= 1 or files < PARALLEL_FROM:
        return 1
    return min(jobs, -(-files // CHUNK))


def predict_files(
    predictor, paths: Sequence[str | os.PathLike], jobs: int, number: bool = False, steps: bool = False
) -> Iterator:
    """The answers `predictor.predict_files` gives, in order, read by `jobs` processes (each with
    the predictor's model and confidence thresholds) when there are enough files to gain by it."""
    paths = [str(p) for p in paths]
    processes = processes_for(len(paths), jobs)
    if processes == 1:
        yield from predictor.predict_files(paths, number=number, steps=steps)
        return
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    init = (str(predictor.choice.path), predictor.min_confidence, predictor.min_pair_confidence, None)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_load, initargs=init) as pool:
        for answers in pool.map(_read, chunks, repeat(number), repeat(steps)):
            yield from answers
