"""Run folders and resume: what a run writes beside its model (config, progress, history,
metadata), how an unfinished run is checked and continued, and the result of a finished one."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import importlib
import io
import json
import platform
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import __version__
from digitrec._tf import backend
from digitrec._tf import keras as _keras
from digitrec._tf import tensorflow as _tensorflow
from digitrec.errors import DigitrecError, OptionError
from digitrec.files import read_json, write_json
from digitrec.training.config import TrainConfig, save_config

PREPROCESSING = {
    "scale": "pixel / 255 as float32 (0-1)",
    "layout": "NHWC (images, height, width, channels)",
    "labels": "one-hot, categorical cross-entropy",
    "foreground": "light digit on dark background (MNIST polarity)",
}


@dataclass(frozen=True)
class RunOptions:
    """How a training run is written and reported, apart from its recipe (`TrainConfig`).

    Args:
      run_dir: the run folder (an unfinished run there is resumed); None: a new
        `<runs_root>/<time>-<dataset>-<model>`.
      runs_root: where new run folders go (None: $DIGITREC_RUNS, else ./runs).
      data_dir: the dataset cache (None: $DIGITREC_DATA_DIR, else ~/.cache/digitrec).
      progress: a progress bar, or one line per epoch to `log` (None: a bar on a terminal).
      log: where progress and notes go.
      command: the command line recorded in metadata.json.
    """

    run_dir: str | Path | None = None
    runs_root: str | Path | None = None
    data_dir: str | Path | None = None
    progress: bool | None = None
    log: Callable[[str], None] = print
    command: str | None = None


class RunStopped(DigitrecError):
    """A run that stopped before its last epoch: the finished epochs are kept in `run_dir`, and
    training it again resumes from them."""

    def __init__(self, run_dir: Path, message: str):
        self.run_dir = run_dir
        super().__init__(message)


class TrainingInterrupted(RunStopped):
    """Ctrl+C during training: what is done is kept and the run can be resumed."""

    def __init__(self, run_dir: Path, finished: int, epochs: int):
        super().__init__(run_dir, f"interrupted after {finished} of {epochs} epochs; the finished epochs are kept")


@dataclass
class RunResult:
    """What a finished run left behind."""

    run_dir: Path
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    train_seconds: float
    metadata: dict[str, Any]


def epoch_line_callback(total_epochs: int, log: Callable[[str], None]):
    """One line per epoch, for logs and pipes where a progress bar would be noise."""
    keras = _keras()

    callback: Any = keras.callbacks.Callback

    class EpochLine(callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            fields = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
            log(f"epoch {epoch + 1}/{total_epochs}  {fields}  {time.perf_counter() - self._start:.1f}s")

    return EpochLine()


@contextlib.contextmanager
def ctrl_c_between_batches():
    """Within it, Ctrl+C stops `Model.fit` at the end of the batch under way, with a
    KeyboardInterrupt raised there by the callback it yields. TensorFlow's runtime, interrupted
    inside a step, could corrupt its heap and kill the process instead of stopping it (`free():
    invalid next size`: SIGABRT or SIGSEGV, about one Ctrl+C in five in tests/training/test_resume.py).
    A second Ctrl+C interrupts at once. A failure after a Ctrl+C is the interruption too: in a
    multi-worker run, a worker still inside a step when its peer stopped loses it (TensorFlow's
    `UnavailableError`). Where Ctrl+C is not Python's default (ignored, handled by someone else)
    or off the main thread, nothing changes."""
    pressed = threading.Event()
    callback: Any = _keras().callbacks.Callback

    class StopBetweenBatches(callback):
        def on_train_batch_end(self, batch, logs=None):
            if pressed.is_set():
                raise KeyboardInterrupt

        on_test_batch_end = on_train_batch_end  # the epoch's validation

    def first_press(signum, frame):
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()

    ours = threading.current_thread() is threading.main_thread()
    ours = ours and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, first_press) if ours else None
    try:
        yield StopBetweenBatches()
    except Exception as exc:
        if pressed.is_set():
            raise KeyboardInterrupt from exc
        raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)


def progress_callback(path: Path, state: dict, write: bool = True):
    """After every epoch, record its numbers in `state` and write it to `path` (atomically, unless
    `write` is False), keyed by epoch, with the training time so far. A resumed run starts from the
    state read back and re-runs at most the epoch it was killed in, whose entry is then
    overwritten, so the final history has every epoch exactly once."""
    keras = _keras()
    offset_seconds = float(state.get("seconds", 0.0))

    callback: Any = keras.callbacks.Callback

    class Progress(callback):
        def on_train_begin(self, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            state["epochs"][str(epoch + 1)] = {k: float(v) for k, v in (logs or {}).items()}
            state["seconds"] = offset_seconds + time.perf_counter() - self._start
            if write:
                write_json(path, state)

    return Progress()


def read_progress(path: Path) -> dict:
    if path.is_file():
        try:
            state = read_json(path)
            if isinstance(state, dict) and isinstance(state.get("epochs"), dict):
                return state
        except DigitrecError:
            pass
    return {"epochs": {}, "seconds": 0.0}


def usable_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a checkpoint Keras can resume from; falls back to the previous one
    when the latest was being written when the process died, and removes an unusable folder."""
    import h5py

    def readable(weights: Path, meta: Path) -> bool:
        try:
            with h5py.File(weights, "r"):
                pass
            return isinstance(json.loads(meta.read_text()), dict)
        except Exception:  # noqa: BLE001 - any damage means "not usable"
            return False

    weights, meta = folder / "latest.weights.h5", folder / "training_metadata.json"
    previous = (folder / "latest.weights.h5.bkp", folder / "training_metadata.json.bkp")
    if readable(weights, meta):
        return True
    if readable(*previous):
        shutil.copyfile(previous[0], weights)
        shutil.copyfile(previous[1], meta)
        return True
    shutil.rmtree(folder, ignore_errors=True)
    return False


def history_from(progress: dict, epochs: int) -> dict[str, list[float]]:
    rows = [progress["epochs"][str(e)] for e in range(1, epochs + 1) if str(e) in progress["epochs"]]
    keys = [k for k in (rows[0] if rows else {}) if k != "learning_rate"]
    return {k: [row[k] for row in rows] for k in keys}


def history_csv(history: dict[str, list[float]]) -> str:
    keys = list(history)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(len(history[keys[0]]) if keys else 0):
        writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])
    return out.getvalue()


def versions() -> dict[str, str]:
    """What trained: digitrec, its Keras and the backend Keras ran on (TensorFlow, or another
    named with its version), numpy, Python and the platform."""
    name = backend()
    engine = {"tensorflow": _tensorflow().__version__} if name == "tensorflow" else {
        "keras_backend": name, name: importlib.import_module(name).__version__}  # fmt: skip
    return {
        "digitrec": __version__,
        **engine,
        "keras": _keras().__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_metadata(
    command: str | None,
    name: str,
    model,
    dataset,
    metrics: dict[str, Any],
    train_seconds: float,
    epochs: int,
    seed: int | None,
    samples: dict[str, int],
    **extra: Any,
) -> dict[str, Any]:
    """metadata.json of a finished run: versions, command, model, data, training and test figures,
    and `extra` sections (distribution, ensemble)."""
    info = dataset.info
    return {
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "model": {
            "name": name,
            "parameters": int(model.count_params()),
            "files": {
                "keras": "model.keras",
                "h5": "model.h5",
                **({"litert": extra["litert"]["file"]} if extra.get("litert", {}).get("file") else {}),
            },
        },
        "dataset": {"name": info.name, "checksum": dataset.checksum, "source": dataset.source, **samples},
        "input_shape": list(info.image_shape),
        "class_names": list(info.class_names),
        "preprocessing": PREPROCESSING,
        "training": {
            "seconds": round(train_seconds, 2),
            "epochs": epochs,
            "seconds_per_epoch": round(train_seconds / max(1, epochs), 2),
            "seed": seed,
        },
        **extra,
        "test_metrics": {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"]},
    }


def prepare_run_dir(run_dir: Path, config: TrainConfig, resuming: bool) -> None:
    """Check that `run_dir` can take this run (new, or the unfinished run of the same config when
    `resuming`), create it and save the config."""
    if (run_dir / "metadata.json").is_file():
        raise OptionError("run_dir", f"{run_dir} already holds a finished run; choose a new one")
    if resuming:
        from digitrec.training.config import load_config

        if load_config(run_dir / "config.json") != config:
            raise OptionError(
                "run_dir",
                f"{run_dir} holds an unfinished run with other settings; resume it, or choose a new one",
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitrecError(f"cannot create run folder {run_dir}: {exc.strerror or exc}") from None
    save_config(config, run_dir / "config.json")


def checkpoint_epoch(checkpoints: Path, progress: dict) -> int:
    """The last finished epoch a checkpoint holds."""
    try:
        return int(json.loads((checkpoints / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return len(progress["epochs"])


def distribution_metadata(distribution, config: TrainConfig, global_batch: int) -> dict[str, Any]:
    return {
        "strategy": distribution.name,
        "replicas": distribution.replicas,
        "workers": distribution.workers,
        "batch_size_per_replica": config.batch_size,
        "global_batch_size": global_batch,
        "learning_rate": config.learning_rate * distribution.replicas,
    }
