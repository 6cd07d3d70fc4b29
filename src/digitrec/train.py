"""One training run: data, model, fit, save, evaluate, charts, metadata, all in one run folder."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import DigitrecError, data, evaluate, store
from ._tf import keras as _keras
from ._tf import tensorflow as _tensorflow
from .config import TrainConfig
from .export import litert_for_run
from .models import build_model
from .precision import float32_copy, keras_policy, resolve_precision
from .runs import (
    RunResult,
    TrainingInterrupted,
    checkpoint_epoch,
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

__all__ = ["RunResult", "TrainingInterrupted", "augment_batch", "train_and_evaluate", "training_dataset"]


def set_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and make TensorFlow's ops deterministic.

    With these, the same seed on the same machine and versions gives the same weights.
    """
    _keras().utils.set_random_seed(seed)
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


ROTATION_DEGREES = 10.0
SHIFT = 0.1  # of the image's side
ZOOM = 0.1
THICKER_SHARE = 0.25
LOW_RES_SHARE = 0.15
LOW_RES_SIDES = (13, 21)  # the 28x28 frame shrunk to this side: its 20-pixel digit to 9-15 pixels


def augment_batch(images, seed):
    """Random changes that real handwriting shows and MNIST lacks, for one batch: small rotations
    (+-10 degrees), shifts (+-10 %) and zoom (+-10 %) as one affine transform per image, a
    thicker pen for a quarter of the images, and for 15 % the softness of a low-resolution digit
    (a far photo, a thumbnail, a fax): shrunk to 9-15 pixels wide and blown up again, its
    brightest pixel back at full ink as the preprocessing leaves it.

    Args:
      images: float images (N, H, W, C).
      seed: two int32 (or int64) numbers; the same seed gives the same changes.
    """
    tf = _tensorflow()
    n = tf.shape(images)[0]
    h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    draws = tf.random.stateless_uniform([7, n], seed=seed, minval=-1.0, maxval=1.0)
    angle = draws[0] * ROTATION_DEGREES * np.pi / 180
    scale = 1.0 / (1.0 + draws[1] * ZOOM)  # input pixels per output pixel
    dx, dy = draws[2] * SHIFT * w, draws[3] * SHIFT * h
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # Each output pixel (x, y) reads the input at rotate(x - c, y - c) / zoom + c - shift.
    zeros = tf.zeros_like(cos)
    transforms = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy - dx, sin, cos, cy - sin * cx - cos * cy - dy, zeros, zeros], axis=1
    )
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    thicker = tf.nn.max_pool2d(moved, ksize=2, strides=1, padding="SAME")
    pick = tf.reshape((draws[4] + 1) / 2 < THICKER_SHARE, [-1, 1, 1, 1])
    images = tf.where(pick, thicker, moved)
    low, high = LOW_RES_SIDES
    side = tf.cast(tf.round(low + (high - low) * (draws[6][0] + 1) / 2), tf.int32)  # one per batch
    size = tf.shape(images)[1:3]
    soft = tf.image.resize(tf.image.resize(images, [side, side], method="area"), size, method="bilinear")
    soft = soft / tf.maximum(tf.reduce_max(soft, axis=[1, 2, 3], keepdims=True), 1e-6)
    soft = soft * tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    pick = tf.reshape((draws[5] + 1) / 2 < LOW_RES_SHARE, [-1, 1, 1, 1])
    return tf.where(pick, soft, images)


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True):
    """A tf.data pipeline: shuffle each epoch (seeded), batch, augment in parallel, prefetch.

    Each batch's augmentation has a seed of its own from a seeded stream that changes every
    epoch, so the same seed gives the same images in the same order, however the map is run."""
    tf = _tensorflow()
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, s: (augment_batch(batch[0], s), batch[1]), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


@dataclass
class _Run:
    """Where one run writes, and how far an unfinished one got."""

    folder: Path
    checkpoints: Path  # the chief's in the run folder; another worker's in a folder of its own
    progress_file: Path
    resuming: bool
    done: dict[str, Any]  # the finished epochs' numbers and training time, updated as epochs end


def train_and_evaluate(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    data_dir: str | Path | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    command: str | None = None,
    mark_latest: bool = True,
    callbacks: list | None = None,
) -> RunResult:
    """Train `config` and write the complete run folder: `run_dir`, else a new
    `<runs_root>/<time>-<dataset>-<model>` (an unfinished run in `run_dir` is resumed). `progress`:
    a bar, or one line per epoch to `log` (default: a bar on a terminal). `command` is recorded in
    metadata.json; `mark_latest` points `<runs root>/latest` at the finished run. `callbacks` run
    after digitrec's own (a benchmark's clock, say); one that stops training early leaves a
    complete run of the epochs done."""
    config = config.validated()
    from .distribute import make_distribution

    distribution = make_distribution(config.strategy, config.cpu_devices)  # before TensorFlow starts its runtime
    set_determinism(config.seed)
    dataset = data.load_dataset(config.dataset, data_dir, data_file=config.data_file)
    info = dataset.info
    x_train, y_train, x_val, y_val = data.split_train_validation(
        dataset.x_train, dataset.y_train, config.validation_split, config.seed, config.limit_train
    )
    run = _open_run(config, distribution, info.name, run_dir, runs_root)
    fit = _training_arrays(x_train, y_train, config, info.num_classes, data_dir, log)
    precision = resolve_precision(config.precision)
    global_batch = config.batch_size * distribution.replicas
    model = _compiled_model(config, info, distribution, precision, steps_per_epoch=-(-len(fit[0]) // global_batch))
    _check_resume(run, distribution.chief, config.epochs, log)
    progress = sys.stdout.isatty() if progress is None else progress
    own = _own_callbacks(config, run, distribution, progress, log)
    log(
        _training_line(config, info.name, len(x_train), len(fit[0]) - len(x_train), len(x_val), distribution, precision)
    )
    validation = (data.scale_images(x_val), data.one_hot(y_val, info.num_classes)) if len(x_val) else None
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
               "negative_samples": int(len(fit[0]) - len(x_train))}  # fmt: skip
    extra = {"distribution": distributed, "precision": precision.to_dict(), "min_confidence": _min_confidence(config),
             "open_set": config.open_set}  # fmt: skip
    result = _finish(model, config, dataset, run, history, distribution.name, samples, extra, command, log)
    if mark_latest:
        store.mark_latest(run.folder)
    shutil.rmtree(run.checkpoints, ignore_errors=True)  # the run is complete: nothing left to resume
    return result


def _training_line(config, dataset: str, images: int, negatives: int, held_out: int, distribution, precision) -> str:
    global_batch = config.batch_size * distribution.replicas
    return (
        f"training {config.model} on {images} {dataset} images "
        + (f"and {negatives} non-digits " if negatives else "")
        + f"({held_out} held out for validation), {config.epochs} epochs, "
        f"{_batch_note(config, distribution, global_batch)}, {precision.used} ({precision.reason})"
    )


def _training_arrays(x, y, config: TrainConfig, num_classes: int, data_dir, log) -> tuple[np.ndarray, np.ndarray]:
    """The training images scaled to 0-1 and their one-hot targets; with `open_set`, non-digit
    images (`negatives`) too, whose target is the same probability for every class."""
    images, targets = data.scale_images(x), data.one_hot(y, num_classes)
    if not config.open_set:
        return images, targets
    if images.shape[1:] != (28, 28, 1):
        raise DigitrecError("--open-set adds non-digits drawn as 28x28 MNIST-style images: it is for digits")
    from . import negatives

    count = max(1, round(config.open_set * len(x)))
    extra = data.scale_images(negatives.training_set(count, config.seed, data_dir, log))
    uniform = np.full((count, num_classes), 1.0 / num_classes, np.float32)
    return np.concatenate([images, extra.reshape((count, *images.shape[1:]))]), np.concatenate([targets, uniform])


def _min_confidence(config: TrainConfig) -> float:
    """The confidence below which this run's answers are "uncertain" (recorded in metadata.json)."""
    from .predict import MIN_CONFIDENCE, OPEN_SET_MIN_CONFIDENCE

    return OPEN_SET_MIN_CONFIDENCE if config.open_set else MIN_CONFIDENCE


def _open_run(config: TrainConfig, distribution: Any, dataset: str, run_dir, runs_root) -> _Run:
    """The run folder (new, or the unfinished one to resume), checked and prepared."""
    chief = distribution.chief
    if run_dir is None:
        if not chief:
            raise DigitrecError("every worker of a multi-worker run needs the same --run-dir (the chief writes it)")
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
        store.remove_stale_temporaries(run.folder)
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
    if config.tensorboard and chief and not distributed:
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
    from .distribute import fit_distributed

    x, y = fit
    global_batch = config.batch_size * distribution.replicas
    common = {"epochs": config.epochs, "validation_data": validation, "callbacks": callbacks}
    try:
        if distribution.name == "multiworker":
            pipeline = training_dataset(x, y, global_batch, config.seed, config.augment)
            fit_distributed(model, pipeline, distribution, config.epochs, global_batch, validation, callbacks)
        elif config.augment:  # the pipeline shuffles every epoch
            pipeline = training_dataset(x, y, global_batch, config.seed)
            model.fit(pipeline, shuffle=False, verbose=1 if progress else 0, **common)
        else:
            model.fit(x, y, batch_size=global_batch, shuffle=True, verbose=1 if progress else 0, **common)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run.folder, len(run.done["epochs"]), config.epochs) from None
    except OSError as exc:  # a checkpoint or log could not be written: disk full, read-only, …
        file, reason = store.os_error_parts(exc)
        raise DigitrecError(
            f"cannot write {file or run.folder}: {reason}; the finished epochs are kept: make room and "
            f"resume with `digitrec train --resume {run.folder}`"
        ) from None


def _finish(model, config, dataset, run: _Run, history, strategy: str, samples, extra, command, log) -> RunResult:
    """Save the trained model, its history, its evaluation, its LiteRT file and metadata.json."""
    store.save_model(model, run.folder)
    store.write_text(run.folder / "history.csv", history_csv(history))
    store.write_json(run.folder / "history.json", history)
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
    store.write_json(run.folder / "metadata.json", metadata)
    return RunResult(run.folder, scored.metrics, history, train_seconds, metadata)
