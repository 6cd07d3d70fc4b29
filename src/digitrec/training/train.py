"""One training run: data, model, fit, save, evaluate, charts, metadata, all in one run folder."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import store
from digitrec._tf import backend
from digitrec._tf import keras as _keras
from digitrec._tf import tensorflow as _tensorflow
from digitrec.data import datasets
from digitrec.errors import OptionError
from digitrec.files import os_error_parts, remove_stale_temporaries, write_json, write_text
from digitrec.reading.rules import run_min_confidence
from digitrec.training import evaluate
from digitrec.training.architectures import build_model
from digitrec.training.augment import training_dataset
from digitrec.training.config import TrainConfig
from digitrec.training.export import litert_for_run
from digitrec.training.precision import float32_copy, keras_policy, resolve_precision
from digitrec.training.runs import (
    RunOptions,
    RunResult,
    RunStopped,
    TrainingInterrupted,
    checkpoint_epoch,
    ctrl_c_between_batches,
    distribution_metadata,
    epoch_line_callback,
    history_csv,
    history_from,
    prepare_run_dir,
    progress_callback,
    read_progress,
    run_metadata,
    usable_checkpoint,
)

__all__ = ["set_determinism", "train_and_evaluate"]


def set_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and make TensorFlow's ops deterministic.

    With these, the same seed on the same machine and versions gives the same weights.
    """
    _keras().utils.set_random_seed(seed)
    if backend() == "tensorflow":
        _tensorflow().config.experimental.enable_op_determinism()


def make_learning_rate(config: TrainConfig, steps_per_epoch: int, replicas: int = 1):
    """The learning rate (scaled by the number of replicas): a number, or a schedule over every
    step of the run."""
    rate = config.learning_rate * replicas
    total = max(1, steps_per_epoch * config.epochs)
    if config.lr_schedule == "cosine":
        return _keras().optimizers.schedules.CosineDecay(rate, decay_steps=total)
    if config.lr_schedule == "warmup_cosine":
        warmup = max(1, steps_per_epoch // 4)
        return _keras().optimizers.schedules.CosineDecay(
            rate / 10, decay_steps=max(1, total - warmup), warmup_target=rate, warmup_steps=warmup
        )
    return rate


def make_optimizer(config: TrainConfig, steps_per_epoch: int, replicas: int = 1):
    """The configured optimizer with its learning-rate schedule."""
    optimizers = _keras().optimizers
    factory = {
        "adam": optimizers.Adam,
        "sgd": optimizers.SGD,
        "rmsprop": optimizers.RMSprop,
        "adadelta": optimizers.Adadelta,
    }[config.optimizer]
    return factory(learning_rate=make_learning_rate(config, steps_per_epoch, replicas))


@dataclass
class _Run:
    """Where one run writes, and how far an unfinished one got."""

    folder: Path
    checkpoints: Path  # the chief's in the run folder; another worker's in a folder of its own
    progress_file: Path
    resuming: bool
    done: dict[str, Any]  # the finished epochs' numbers and training time, updated as epochs end


def train_and_evaluate(
    config: TrainConfig, options: RunOptions | None = None, *, mark_latest: bool = True, callbacks: list | None = None
) -> RunResult:
    """Train `config` and write the complete run folder where `options` say (`RunOptions`: a new
    folder under the runs root by default; an unfinished run in its `run_dir` is resumed).
    `mark_latest` points `<runs root>/latest` at the finished run. `callbacks` run after
    digitrec's own (a benchmark's clock, say); one that stops training early leaves a complete run
    of the epochs done."""
    config = config.validated()
    options = options or RunOptions()
    log, data_dir = options.log, options.data_dir
    from digitrec.training.distribute import make_distribution

    distribution = make_distribution(config.strategy, config.cpu_devices)  # before TensorFlow starts its runtime
    set_determinism(config.seed)
    dataset = datasets.load_dataset(config.dataset, data_dir, data_file=config.data_file)
    info = dataset.info
    x_train, y_train, x_val, y_val = datasets.split_train_validation(
        dataset.x_train, dataset.y_train, config.validation_split, config.seed, config.limit_train
    )
    run = _open_run(config, distribution, info.name, options.run_dir, options.runs_root)
    fit = _training_arrays(x_train, y_train, config, info.num_classes, data_dir, log)
    restyled = _restyled(config, len(x_train))
    negatives = len(fit[0]) - len(x_train) - restyled
    precision = resolve_precision(config.precision)
    global_batch = config.batch_size * distribution.replicas
    model = _compiled_model(config, info, distribution, precision, steps_per_epoch=-(-len(fit[0]) // global_batch))
    _check_resume(run, distribution.chief, config.epochs, log)
    progress = sys.stdout.isatty() if options.progress is None else options.progress
    own = _own_callbacks(config, run, distribution, progress, log)
    log(_training_line(config, info.name, len(x_train), restyled, negatives, len(x_val), distribution, precision))
    validation = (datasets.scale_images(x_val), datasets.one_hot(y_val, info.num_classes)) if len(x_val) else None
    _fit(model, config, distribution, fit, validation, [*own, *(callbacks or [])], progress, run)
    history = history_from(run.done, config.epochs)
    distributed = distribution_metadata(distribution, config, global_batch)
    if not distribution.chief:  # another worker of a multi-worker run: the chief writes the run
        shutil.rmtree(run.checkpoints, ignore_errors=True)
        log(f"{distribution.task_type} {distribution.task_id} finished training; the chief writes {run.folder}")
        return RunResult(run.folder, {}, history, float(run.done.get("seconds", 0.0)),
                         {"distribution": distributed, "chief": False})  # fmt: skip
    if precision.used != "float32":  # saved, tested and served in float32, on any machine
        model = float32_copy(model, lambda: build_model(config.model, info.image_shape, info.num_classes))
    samples = {"train_samples": int(len(x_train)), "validation_samples": int(len(x_val)),
               "restyled_samples": restyled, "negative_samples": negatives}  # fmt: skip
    extra = {"distribution": distributed, "precision": precision.to_dict(),
             "min_confidence": run_min_confidence(config.open_set), "open_set": config.open_set}  # fmt: skip
    result = _finish(model, config, dataset, run, history, distribution.name, samples, extra, options.command, log)
    if mark_latest:
        store.mark_latest(run.folder)
    shutil.rmtree(run.checkpoints, ignore_errors=True)  # the run is complete: nothing left to resume
    return result


def _training_line(
    config, dataset: str, images: int, restyled: int, negatives: int, held_out: int, distribution, precision
) -> str:
    global_batch = config.batch_size * distribution.replicas
    return (
        f"training {config.model} on {images} {dataset} images "
        + (f"(and {restyled} of them restyled) " if restyled else "")
        + (f"and {negatives} non-digits " if negatives else "")
        + f"({held_out} held out for validation), {config.epochs} epochs, "
        f"{_batch_note(config, distribution, global_batch)}, {precision.used} ({precision.reason})"
    )


def _training_arrays(x, y, config: TrainConfig, num_classes: int, data_dir, log) -> tuple[np.ndarray, np.ndarray]:
    """The training images scaled to 0-1 and their one-hot targets; with `restyle`, a share of the
    digits again, restyled (`training.restyle`); with `open_set`, non-digit images (`negatives`)
    too, whose target is the same probability for every class."""
    if (config.open_set or config.restyle) and x[:1].size != 28 * 28:
        option = "open_set" if config.open_set else "restyle"
        raise OptionError(option, "adds images drawn as 28x28 grey MNIST-style ones: it is for digits")
    digits = len(x)
    if config.restyle:
        from digitrec.training import restyle

        picked = np.sort(np.random.default_rng(config.seed).choice(digits, _restyled(config, digits), replace=False))
        x = np.concatenate([x, restyle.training_set(x[picked], config.seed, data_dir, log).reshape(-1, *x.shape[1:])])
        y = np.concatenate([y, y[picked]])
    images, targets = datasets.scale_images(x), datasets.one_hot(y, num_classes)
    if not config.open_set:
        return images, targets
    from digitrec.training import negatives

    count = _non_digits(config, digits)
    extra = datasets.scale_images(negatives.training_set(count, config.seed, data_dir, log))
    uniform = np.full((count, num_classes), 1.0 / num_classes, np.float32)
    return np.concatenate([images, extra.reshape((count, *images.shape[1:]))]), np.concatenate([targets, uniform])


def _restyled(config: TrainConfig, digits: int) -> int:
    return round(config.restyle * digits) if config.restyle else 0


def _non_digits(config: TrainConfig, digits: int) -> int:
    return max(1, round(config.open_set * digits)) if config.open_set else 0


def _open_run(config: TrainConfig, distribution: Any, dataset: str, run_dir, runs_root) -> _Run:
    """The run folder (new, or the unfinished one to resume), checked and prepared."""
    chief = distribution.chief
    if run_dir is None:
        if not chief:
            raise OptionError(
                "run_dir", "must be given, the same for every worker of a multi-worker run (the chief writes it)"
            )
        run_dir = store.new_run_dir(runs_root, store.default_run_name(dataset, config.model))
    folder = Path(run_dir)
    # Only the chief writes the run folder; another worker keeps its checkpoints in a folder of its own.
    checkpoints = folder / "checkpoints" if chief else distribution.worker_dir(folder)
    resuming = checkpoints.is_dir() and (not chief or (folder / "config.json").is_file())
    if chief:
        prepare_run_dir(folder, config, resuming)
    return _Run(folder, checkpoints, folder / "progress.json", resuming, {"epochs": {}, "seconds": 0.0})


def _check_resume(run: _Run, chief: bool, epochs: int, log: Callable[[str], None]) -> None:
    """Decide whether the run really resumes (its checkpoint must be whole) and read its progress."""
    if run.resuming and chief:
        remove_stale_temporaries(run.folder)
    if run.resuming and not usable_checkpoint(run.checkpoints):
        log(f"the checkpoint in {run.folder} was cut off while being written; starting the run over")
        run.resuming = False
    if chief and not run.resuming:
        run.progress_file.unlink(missing_ok=True)
    if chief:
        run.done = read_progress(run.progress_file)
    if run.resuming:
        log(f"resuming {run.folder} after epoch {checkpoint_epoch(run.checkpoints, run.done)} of {epochs}")


def _compiled_model(config: TrainConfig, info: Any, distribution: Any, precision: Any, steps_per_epoch: int):
    with distribution.strategy.scope(), keras_policy(precision):
        model = build_model(config.model, info.image_shape, info.num_classes)
        model.compile(
            optimizer=make_optimizer(config, steps_per_epoch, distribution.replicas),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model


def _own_callbacks(config: TrainConfig, run: _Run, distribution: Any, progress: bool, log) -> list:
    """Progress (written before the checkpoint: see `progress_callback`), checkpoints, one line
    per epoch where there is no progress bar, TensorBoard logs."""
    keras = _keras()
    chief = distribution.chief
    own = [
        progress_callback(run.progress_file, run.done, write=chief),  # updates `run.done` as epochs finish
        keras.callbacks.BackupAndRestore(
            str(run.checkpoints), save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
        ),
    ]
    distributed = distribution.name == "multiworker"
    if not progress or distributed:
        own.append(epoch_line_callback(config.epochs, log))
    if config.tensorboard and chief and not distributed and backend() == "tensorflow":  # Keras writes them with TF
        own.append(keras.callbacks.TensorBoard(log_dir=str(run.folder / "logs"), histogram_freq=0, write_graph=False))
    return own


def _batch_note(config: TrainConfig, distribution: Any, global_batch: int) -> str:
    if distribution.replicas == 1:
        return f"batch {config.batch_size}"
    return (
        f"batch {config.batch_size} per replica ({global_batch} in all), learning rate "
        f"{config.learning_rate * distribution.replicas:g} ({distribution.describe()})"
    )


def _fit(model, config: TrainConfig, distribution: Any, fit, validation, callbacks, progress: bool, run: _Run) -> None:
    """Train: a tf.data pipeline when augmenting, arrays otherwise, the custom loop across workers.
    Ctrl+C and write failures keep the finished epochs and say how to resume."""
    from digitrec.training.distribute import fit_distributed

    x, y = fit
    global_batch = config.batch_size * distribution.replicas
    try:
        with ctrl_c_between_batches() as stop:
            callbacks = [*callbacks, stop]
            common = {"epochs": config.epochs, "validation_data": validation, "callbacks": callbacks}
            if distribution.name == "multiworker":
                pipeline = training_dataset(x, y, global_batch, config.seed, config.augment)
                fit_distributed(model, pipeline, distribution, config.epochs, global_batch, validation, callbacks)
            elif config.augment:  # the pipeline shuffles every epoch
                pipeline = _augmented(x, y, global_batch, config.seed, epoch=len(run.done["epochs"]))
                model.fit(pipeline, shuffle=False, verbose=1 if progress else 0, **common)
            else:
                model.fit(x, y, batch_size=global_batch, shuffle=True, verbose=1 if progress else 0, **common)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run.folder, len(run.done["epochs"]), config.epochs) from None
    except OSError as exc:  # a checkpoint or log could not be written: disk full, read-only, …
        file, reason = os_error_parts(exc)
        raise RunStopped(
            run.folder, f"cannot write {file or run.folder}: {reason}; the finished epochs are kept: make room first"
        ) from None


def _augmented(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epoch: int):
    """The augmented batches: tf.data on TensorFlow, the same made with numpy and OpenCV on
    another backend (where a resumed run goes on with the batches of its next epoch)."""
    if backend() == "tensorflow":
        return training_dataset(x, y, batch_size, seed)
    from digitrec.training.batches import batches

    return batches(x, y, batch_size, seed, epoch=epoch)


def _finish(model, config, dataset, run: _Run, history, strategy: str, samples, extra, command, log) -> RunResult:
    """Save the trained model, its history, its evaluation, its LiteRT file and metadata.json."""
    store.save_model(model, run.folder)
    write_text(run.folder / "history.csv", history_csv(history))
    write_json(run.folder / "history.json", history)
    # A model trained under a strategy predicts under it too (on every worker at once); the
    # saved file, loaded here, is a plain model, and evaluating it checks the file as well.
    tested = model if strategy == "default" else store.load_model(run.folder / "model.keras")
    title = f"{config.model} on {dataset.info.name} test set"
    scored = evaluate.score(tested, dataset, run.folder, history, title, config.limit_test, keras_model=tested)
    litert = litert_for_run(tested, run.folder, scored.x, scored.evaluation.y_pred, log)
    train_seconds = float(run.done.get("seconds", 0.0))
    metadata = run_metadata(
        command,
        config.model,
        model,
        dataset,
        scored.metrics,
        train_seconds,
        len(history.get("loss", [])),
        config.seed,
        samples={**samples, "test_samples": int(len(scored.x))},
        **extra,
        litert=litert,
    )
    write_json(run.folder / "metadata.json", metadata)
    return RunResult(run.folder, scored.metrics, history, train_seconds, metadata)
