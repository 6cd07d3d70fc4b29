"""One training run: data, model, fit, save, evaluate, charts, metadata, all in one run folder."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import DigitrecError, __version__, data, evaluate, store
from ._tf import keras as _keras
from ._tf import tensorflow as _tensorflow
from .config import TrainConfig, save_config
from .export import litert_for_run
from .precision import float32_copy, keras_policy, resolve_precision

PREPROCESSING = {
    "scale": "pixel / 255 as float32 (0-1)",
    "layout": "NHWC (images, height, width, channels)",
    "labels": "one-hot, categorical cross-entropy",
    "foreground": "light digit on dark background (MNIST polarity)",
}


class TrainingInterrupted(DigitrecError):
    """Ctrl+C during training: what is done is kept and the run can be resumed."""

    exit_code = 130  # as for any program stopped by Ctrl+C
    label = ""

    def __init__(self, run_dir: Path, finished: int, epochs: int):
        self.run_dir = run_dir
        super().__init__(
            f"interrupted after {finished} of {epochs} epochs; the finished epochs are kept: "
            f"resume with `digitrec train --resume {run_dir}`"
        )


@dataclass
class RunResult:
    """What a finished run left behind."""

    run_dir: Path
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    train_seconds: float
    metadata: dict[str, Any]


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


def augment_batch(images, seed):
    """Random changes that real handwriting shows and MNIST lacks, for one batch: small rotations
    (+-10 degrees), shifts (+-10 %) and zoom (+-10 %) as one affine transform per image, and a
    thicker pen for a quarter of the images.

    Args:
      images: float images (N, H, W, C).
      seed: two int32 (or int64) numbers; the same seed gives the same changes.
    """
    tf = _tensorflow()
    n = tf.shape(images)[0]
    h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    draws = tf.random.stateless_uniform([5, n], seed=seed, minval=-1.0, maxval=1.0)
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
    return tf.where(pick, thicker, moved)


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


def _epoch_line_callback(total_epochs: int, log: Callable[[str], None]):
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


def _progress_callback(path: Path, state: dict, write: bool = True):
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
                store.write_json(path, state)

    return Progress()


def _read_progress(path: Path) -> dict:
    if path.is_file():
        try:
            state = store.read_json(path)
            if isinstance(state, dict) and isinstance(state.get("epochs"), dict):
                return state
        except DigitrecError:
            pass
    return {"epochs": {}, "seconds": 0.0}


def _usable_checkpoint(folder: Path) -> bool:
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


def _history_from(progress: dict, epochs: int) -> dict[str, list[float]]:
    rows = [progress["epochs"][str(e)] for e in range(1, epochs + 1) if str(e) in progress["epochs"]]
    keys = [k for k in (rows[0] if rows else {}) if k != "learning_rate"]
    return {k: [row[k] for row in rows] for k in keys}


def _history_csv(history: dict[str, list[float]]) -> str:
    keys = list(history)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(len(history[keys[0]]) if keys else 0):
        writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])
    return out.getvalue()


def versions() -> dict[str, str]:
    return {
        "digitrec": __version__,
        "tensorflow": _tensorflow().__version__,
        "keras": _keras().__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


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
    """Train `config` and write the complete run folder.

    Args:
      config: the resolved training settings.
      run_dir: the run folder; a new `<runs root>/<time>-<dataset>-<model>` when None.
      runs_root: where new run folders go (default ./runs or $DIGITREC_RUNS).
      data_dir: the dataset cache folder.
      progress: a progress bar (True) or one line per epoch (False); default: bar on a terminal.
      log: where progress lines go.
      command: the command line that started the run, recorded in metadata.json.
      mark_latest: point `<runs root>/latest` at this run when it is complete.
      callbacks: more Keras callbacks, called after digitrec's own (a benchmark's clock, say); one
        that stops training early leaves a complete run of the epochs done.
    """
    config = config.validated()
    keras = _keras()
    from .distribute import fit_distributed, make_distribution

    distribution = make_distribution(config.strategy, config.cpu_devices)  # before TensorFlow starts its runtime
    set_determinism(config.seed)

    dataset = data.load_dataset(config.dataset, data_dir, data_file=config.data_file)
    info = dataset.info
    x_train, y_train, x_val, y_val = data.split_train_validation(
        dataset.x_train, dataset.y_train, config.validation_split, config.seed, config.limit_train
    )
    x_test, y_test = dataset.x_test[: config.limit_test], dataset.y_test[: config.limit_test]

    chief = distribution.chief
    if run_dir is None:
        if not chief:
            raise DigitrecError("every worker of a multi-worker run needs the same --run-dir (the chief writes it)")
        run_dir = store.new_run_dir(runs_root, store.default_run_name(info.name, config.model))
    run_dir = Path(run_dir)
    # Only the chief writes the run folder; another worker keeps its checkpoints in a folder of its own.
    checkpoints = run_dir / "checkpoints" if chief else distribution.worker_dir(run_dir)
    progress_file = run_dir / "progress.json"
    resuming = checkpoints.is_dir() and (not chief or (run_dir / "config.json").is_file())
    if chief:
        _prepare_run_dir(run_dir, config, resuming)

    from .models import build_model

    precision = resolve_precision(config.precision)
    global_batch = config.batch_size * distribution.replicas
    steps_per_epoch = -(-len(x_train) // global_batch)
    with distribution.strategy.scope(), keras_policy(precision):
        model = build_model(config.model, info.image_shape, info.num_classes)
        model.compile(
            optimizer=make_optimizer(config, steps_per_epoch, distribution.replicas),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )

    if progress is None:
        progress = sys.stdout.isatty()
    if resuming and chief:
        store.remove_stale_temporaries(run_dir)
    if resuming and not _usable_checkpoint(checkpoints):
        log(f"the checkpoint in {run_dir} was cut off while being written; starting the run over")
        resuming = False
    if chief and not resuming:
        progress_file.unlink(missing_ok=True)
    done: dict[str, Any] = _read_progress(progress_file) if chief else {"epochs": {}, "seconds": 0.0}
    if resuming:
        log(f"resuming {run_dir} after epoch {_checkpoint_epoch(checkpoints, done)} of {config.epochs}")
    # Order matters: the progress file is written before the checkpoint (see _progress_callback).
    own = [
        _progress_callback(progress_file, done, write=chief),  # updates `done` as epochs finish
        keras.callbacks.BackupAndRestore(
            str(checkpoints), save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
        ),
    ]
    distributed = distribution.name == "multiworker"
    if not progress or distributed:
        own.append(_epoch_line_callback(config.epochs, log))
    if config.tensorboard and chief and not distributed:
        own.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), histogram_freq=0, write_graph=False))
    callbacks = [*own, *(callbacks or [])]
    batch_note = (
        f"batch {config.batch_size}"
        if distribution.replicas == 1
        else f"batch {config.batch_size} per replica ({global_batch} in all), learning rate "
        f"{config.learning_rate * distribution.replicas:g} ({distribution.describe()})"
    )
    log(
        f"training {config.model} on {len(x_train)} {info.name} images "
        f"({len(x_val)} held out for validation), {config.epochs} epochs, {batch_note}, "
        f"{precision.used} ({precision.reason})"
    )
    validation = (data.scale_images(x_val), data.one_hot(y_val, info.num_classes)) if len(x_val) else None
    x_fit, y_fit = data.scale_images(x_train), data.one_hot(y_train, info.num_classes)
    try:
        if distributed:
            fit_distributed(
                model,
                training_dataset(x_fit, y_fit, global_batch, config.seed, config.augment),
                distribution,
                config.epochs,
                global_batch,
                validation,
                callbacks,
            )
        elif config.augment:
            model.fit(
                training_dataset(x_fit, y_fit, global_batch, config.seed),
                epochs=config.epochs,
                validation_data=validation,
                shuffle=False,  # the pipeline shuffles every epoch
                callbacks=callbacks,
                verbose=1 if progress else 0,
            )
        else:
            model.fit(
                x_fit,
                y_fit,
                batch_size=global_batch,
                epochs=config.epochs,
                validation_data=validation,
                shuffle=True,
                callbacks=callbacks,
                verbose=1 if progress else 0,
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(run_dir, len(done["epochs"]), config.epochs) from None
    except OSError as exc:  # a checkpoint or log could not be written: disk full, read-only, …
        file, reason = store.os_error_parts(exc)
        raise DigitrecError(
            f"cannot write {file or run_dir}: {reason}; the finished epochs are kept: make room and "
            f"resume with `digitrec train --resume {run_dir}`"
        ) from None
    train_seconds = float(done.get("seconds", 0.0))
    history = _history_from(done, config.epochs)
    if not chief:
        shutil.rmtree(checkpoints, ignore_errors=True)
        log(f"{distribution.task_type} {distribution.task_id} finished training; the chief writes {run_dir}")
        return RunResult(
            run_dir,
            {},
            history,
            train_seconds,
            {"distribution": _distribution_metadata(distribution, config, global_batch), "chief": False},
        )

    if precision.used != "float32":  # saved, tested and served in float32, on any machine
        model = float32_copy(model, lambda: build_model(config.model, info.image_shape, info.num_classes))
    store.save_model(model, run_dir)
    store.write_text(run_dir / "history.csv", _history_csv(history))
    store.write_json(run_dir / "history.json", history)

    # A model trained under a strategy predicts under it too (on every worker at once); the
    # saved file, loaded here, is a plain model, and evaluating it checks the file as well.
    tested = model if distribution.name == "default" else store.load_model(run_dir / "model.keras")
    result = evaluate.Evaluation(
        info.class_names, y_test.astype(np.int64), evaluate.predict_probabilities(tested, data.scale_images(x_test))
    )
    metrics = evaluate.write_evaluation(
        result, x_test, run_dir, history, title=f"{config.model} on {info.name} test set"
    )
    litert = litert_for_run(tested, run_dir, data.scale_images(x_test), result.y_pred, log)
    epochs = len(history.get("loss", []))
    metadata = _run_metadata(
        command,
        config.model,
        model,
        dataset,
        metrics,
        train_seconds,
        epochs,
        config.seed,
        samples={
            "train_samples": int(len(x_train)),
            "validation_samples": int(len(x_val)),
            "test_samples": int(len(x_test)),
        },
        distribution=_distribution_metadata(distribution, config, global_batch),
        precision=precision.to_dict(),
        litert=litert,
    )
    store.write_json(run_dir / "metadata.json", metadata)
    if mark_latest:
        store.mark_latest(run_dir)
    # The run is complete: its checkpoints are no longer needed to resume it.
    shutil.rmtree(checkpoints, ignore_errors=True)
    return RunResult(run_dir, metrics, history, train_seconds, metadata)


def _run_metadata(
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


def _prepare_run_dir(run_dir: Path, config: TrainConfig, resuming: bool) -> None:
    """Check that `run_dir` can take this run (new, or the unfinished run of the same config when
    `resuming`), create it and save the config."""
    if (run_dir / "metadata.json").is_file():
        raise DigitrecError(f"{run_dir} already holds a finished run; choose a new --run-dir")
    if resuming:
        from .config import load_config

        if load_config(run_dir / "config.json") != config:
            raise DigitrecError(
                f"{run_dir} holds an unfinished run with other settings; resume it with "
                f"`digitrec train --resume {run_dir}`, or train into a new --run-dir"
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitrecError(f"cannot create run folder {run_dir}: {exc.strerror or exc}") from None
    save_config(config, run_dir / "config.json")


def _checkpoint_epoch(checkpoints: Path, progress: dict) -> int:
    """The last finished epoch a checkpoint holds."""
    try:
        return int(json.loads((checkpoints / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return len(progress["epochs"])


def _distribution_metadata(distribution, config: TrainConfig, global_batch: int) -> dict[str, Any]:
    return {
        "strategy": distribution.name,
        "replicas": distribution.replicas,
        "workers": distribution.workers,
        "batch_size_per_replica": config.batch_size,
        "global_batch_size": global_batch,
        "learning_rate": config.learning_rate * distribution.replicas,
    }


def evaluate_saved_model(
    target: str | Path | None,
    out_dir: str | Path | None = None,
    dataset_name: str | None = None,
    data_file: str | Path | None = None,
    data_dir: str | Path | None = None,
    limit_test: int | None = None,
    runs_root: str | Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Recompute metrics and charts for a saved model, in any format, without retraining.

    The dataset comes from the model's metadata.json when it has one. Results go to the model's
    run folder, or `out_dir`, or a new `runs/<time>-eval-<name>` folder for a loose model file.
    """
    from .runtime import load_runtime

    choice = store.resolve_model(target, runs_root)
    path = choice.path
    name = dataset_name or choice.metadata.get("dataset", {}).get("name") or "mnist"
    model = load_runtime(choice)  # a run's LiteRT file where it has one: what the front ends answer with
    dataset = data.load_dataset(name, data_dir, data_file=data_file)
    expected = tuple(int(d) for d in model.input_shape[1:])
    if expected != tuple(dataset.info.image_shape):
        raise DigitrecError(
            f"{path} takes images of shape {expected}, but {dataset.name} has {dataset.info.image_shape}; "
            "pass the dataset it was trained on with --dataset"
        )
    x_test, y_test = dataset.x_test[:limit_test], dataset.y_test[:limit_test]
    x = data.scale_images(x_test)
    probabilities = np.concatenate([model.predict(x[i : i + 1000]) for i in range(0, len(x), 1000)]).astype(np.float64)
    result = evaluate.Evaluation(dataset.info.class_names, y_test.astype(np.int64), probabilities)
    if out_dir is None:
        out_dir = (
            choice.run_dir
            if choice.run_dir is not None and not choice.shipped  # never into the installed package
            else store.new_run_dir(
                runs_root, f"{_dt.datetime.now():%Y%m%d-%H%M%S}-eval-{choice.name.replace('.', '-')}"
            )
        )
    history_file = choice.run_dir / "history.json" if choice.run_dir is not None else None
    history = store.read_json(history_file) if history_file is not None and history_file.is_file() else None
    metrics = evaluate.write_evaluation(
        result, x_test, out_dir, history, title=f"{choice.name} ({model.backend}) on {dataset.name} test set"
    )
    return Path(out_dir), {**metrics, "model": choice.name, "backend": model.backend}


# ---------------------------------------------------------------- ensembles


def ensemble_model(members: list, name: str = "ensemble"):
    """One Keras model that averages the probabilities of `members` (models with the same input
    and output shapes). It saves, loads, exports and predicts like any single model."""
    keras = _keras()
    if not members:
        raise DigitrecError("an ensemble needs at least one member")
    shape = tuple(members[0].input_shape[1:])
    if any(tuple(m.input_shape[1:]) != shape or m.output_shape != members[0].output_shape for m in members):
        raise DigitrecError("ensemble members must take and give the same shapes")
    inputs = keras.Input(shape=shape, name="image")
    outputs = []
    for i, member in enumerate(members, start=1):
        member.name = f"member{i}_{member.name}"  # unique layer names inside the ensemble
        outputs.append(member(inputs, training=False))
    averaged = keras.layers.Average(name="probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name=name)


def train_ensemble(
    config: TrainConfig,
    members: int,
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    data_dir: str | Path | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> RunResult:
    """Train `members` models of `config` with seeds seed, seed+1, … and save their average as
    one model in `run_dir`. Each member is a complete run in `<run_dir>/members/`; running the
    same command again (or --resume) skips finished members and resumes an unfinished one."""
    config = config.validated()
    if members < 2:
        raise DigitrecError("--ensemble needs at least 2 members")
    if config.strategy != "default":
        raise DigitrecError("--ensemble trains its members one after the other; use --strategy default")
    dataset = data.load_dataset(config.dataset, data_dir, data_file=config.data_file)
    info = dataset.info
    if run_dir is None:
        run_dir = store.new_run_dir(runs_root, store.default_run_name(info.name, f"{config.model}-x{members}"))
    run_dir = Path(run_dir)
    seeds = [config.seed + i for i in range(members)]
    plan = {"members": members, "seeds": seeds}
    plan_file = run_dir / "ensemble.json"
    resuming = plan_file.is_file()
    if resuming and store.read_json(plan_file) != plan:
        raise DigitrecError(f"{run_dir} holds another ensemble; choose a new --run-dir")
    if not resuming and run_dir.exists() and any(run_dir.iterdir()):
        raise DigitrecError(f"{run_dir} is not empty; choose a new --run-dir")
    _prepare_run_dir(run_dir, config, resuming)
    store.write_json(plan_file, plan)

    folders = []
    for i, seed in enumerate(seeds, start=1):
        member_dir = run_dir / "members" / f"{i}-seed{seed}"
        folders.append(member_dir)
        if (member_dir / "metadata.json").is_file():
            log(f"member {i}/{members} (seed {seed}) is already trained")
            continue
        log(f"member {i}/{members} (seed {seed})")
        train_and_evaluate(
            config.replace(seed=seed),
            run_dir=member_dir,
            data_dir=data_dir,
            progress=progress,
            log=log,
            command=command,
            mark_latest=False,
        )
    return _save_ensemble(
        run_dir,
        [store.read_json(d / "metadata.json") for d in folders],
        folders,
        dataset,
        f"{config.model}_x{members}",
        config.limit_test,
        command,
        seed=config.seed,
        log=log,
    )


def combine_runs(
    runs: list[str | Path],
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    data_dir: str | Path | None = None,
    data_file: str | Path | None = None,
    limit_test: int | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Average finished runs of any recipes (other models, augmentations, epochs) trained on the
    same data into one model, in a new run folder: what `digitrec ensemble` does. Members that
    make different mistakes are what an average can correct; seeds of one recipe mostly agree.

    Args:
      runs: two or more finished run folders (each with its metadata.json and model.keras).
      run_dir: the new folder; `<runs root>/<time>-<dataset>-ensemble-xN` when None.
      data_file: the members' own data (`--data-file`), when they were not trained on a named dataset.
    """
    folders = [Path(r) for r in runs]
    if len(folders) < 2:
        raise DigitrecError("an ensemble needs at least 2 runs")
    if len({f.resolve() for f in folders}) < len(folders):
        raise DigitrecError("a run is named twice; name each member once")
    metadata = []
    for folder in folders:
        if not (folder / "metadata.json").is_file() or not (folder / "model.keras").is_file():
            raise DigitrecError(f"{folder} is not a finished run folder (no metadata.json and model.keras)")
        metadata.append(store.read_json(folder / "metadata.json"))
    sources = {(m["dataset"]["name"], m["dataset"]["checksum"]) for m in metadata}
    if len(sources) > 1:
        raise DigitrecError(
            "the runs were trained on different data: "
            + ", ".join(sorted(f"{name} ({checksum[:12]})" for name, checksum in sources))
        )
    dataset = data.load_dataset(metadata[0]["dataset"]["name"], data_dir, data_file=data_file)
    if dataset.checksum != metadata[0]["dataset"]["checksum"]:
        raise DigitrecError(f"the runs were trained on other {dataset.name} data than {data_file or 'its cache'} holds")
    if run_dir is None:
        run_dir = store.new_run_dir(runs_root, store.default_run_name(dataset.info.name, f"ensemble-x{len(folders)}"))
    run_dir = Path(run_dir)
    if run_dir.resolve() in {f.resolve() for f in folders}:
        raise DigitrecError(f"{run_dir} is one of the members; choose a new --run-dir")
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise DigitrecError(f"{run_dir} is not empty; choose a new --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitrecError(f"cannot create run folder {run_dir}: {exc.strerror or exc}") from None
    return _save_ensemble(
        run_dir, metadata, folders, dataset, f"ensemble_x{len(folders)}", limit_test, command, log=log
    )


def _save_ensemble(
    run_dir: Path,
    metadata: list[dict],
    folders: list[Path],
    dataset,
    name: str,
    limit_test: int | None,
    command: str | None,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Average the models in `folders` (runs described by `metadata`), save the average in
    `run_dir` and evaluate it there, as a run of its own."""
    info = dataset.info
    model = ensemble_model([store.load_model(folder / "model.keras") for folder in folders], name=name)
    store.save_model(model, run_dir)
    x_test, y_test = dataset.x_test[:limit_test], dataset.y_test[:limit_test]
    result = evaluate.Evaluation(
        info.class_names, y_test.astype(np.int64), evaluate.predict_probabilities(model, data.scale_images(x_test))
    )
    names = [m["model"]["name"] for m in metadata]
    what = f"{len(names)} x {names[0]}" if len(set(names)) == 1 else " + ".join(names)
    metrics = evaluate.write_evaluation(
        result, x_test, run_dir, None, title=f"{what} (averaged) on {info.name} test set"
    )
    litert = litert_for_run(model, run_dir, data.scale_images(x_test), result.y_pred, log)
    train_seconds = sum(m["training"]["seconds"] for m in metadata)
    members = [
        {
            "run": str(folder.relative_to(run_dir) if folder.is_relative_to(run_dir) else folder),
            "model": m["model"]["name"],
            "command": m.get("command"),
            "test_accuracy": m["test_metrics"]["accuracy"],
            "seconds": round(m["training"]["seconds"], 2),
        }
        for folder, m in zip(folders, metadata)
    ]
    out = _run_metadata(
        command,
        model.name,
        model,
        dataset,
        metrics,
        train_seconds,
        sum(m["training"]["epochs"] for m in metadata),
        seed,
        samples={"test_samples": int(len(x_test))},
        ensemble={"members": members, "combine": "mean of the members' probabilities"},
        litert=litert,
    )
    store.write_json(run_dir / "metadata.json", out)
    store.mark_latest(run_dir)
    return RunResult(run_dir, metrics, {}, train_seconds, out)
