"""Reading many files on every core: `digitrec predict FOLDER --jobs N`.

The calling process and N-1 helpers read chunks of the files, each helper with its own copy of
the model; the answers come back in the files' order, the same answers one process gives. The
helpers are started fresh ("spawn"), not forked, so nothing of the caller's threads is copied.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

CHUNK = 16  # files per task: large enough that handing them out costs little, small enough to balance
QUEUED = 2  # chunks handed to each helper ahead of time, so that none waits for the next
PARALLEL_FROM = 32  # fewer files than this are read in the calling process: starting N costs more

_predictor: Any = None  # each process's own


def _load(model: str, min_confidence: float, pair: float | None, runs_root: str | None) -> None:
    global _predictor
    from digitrec.reading.alloc import for_many_images
    from digitrec.reading.predictor import Predictor

    os.environ.setdefault("DIGITREC_LITERT_THREADS", "1")  # one core per process
    for_many_images()
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
    the predictor's model and confidence thresholds) when there are enough files to gain by it.

    The calling process is one of them: it reads while the others start (importing and loading the
    model takes them about half a second), then takes whichever chunk no other process has."""
    files = [str(p) for p in paths]
    processes = processes_for(len(files), jobs)
    if processes == 1:
        yield from predictor.predict_files(files, number=number, steps=steps)
        return
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    helpers = processes - 1
    init = (str(predictor.choice.path), predictor.min_confidence, predictor.min_pair_confidence, None)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(helpers, mp_context=context, initializer=_load, initargs=init) as pool:
        handed: dict[int, Future] = {}
        mine: dict[int, list] = {}
        taken = 0  # chunks before this one are someone's
        for wanted in range(len(chunks)):
            while wanted not in mine and not (wanted in handed and handed[wanted].done()):
                # Keep each helper QUEUED chunks ahead, then read the next chunk here.
                while taken < len(chunks) and sum(not f.done() for f in handed.values()) < QUEUED * helpers:
                    handed[taken] = pool.submit(_read, chunks[taken], number, steps)
                    taken += 1
                if taken == len(chunks):
                    break  # nothing left to take: wait for the helper that has it
                mine[taken] = list(predictor.predict_files(chunks[taken], number=number, steps=steps))
                taken += 1
            yield from mine.pop(wanted) if wanted in mine else handed.pop(wanted).result()
