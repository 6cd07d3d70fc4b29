"""Training on several devices or machines with TensorFlow's own engine, tf.distribute.

Three strategies, chosen with `digitrec train --strategy`:

- `default`: one device (the CPU, or the first GPU), no distribution.
- `mirrored`: `tf.distribute.MirroredStrategy`, one replica per GPU of this machine (or per
  logical CPU device with `--cpu-devices N`, to try it without GPUs); gradients are all-reduced
  every step, so the replicas hold the same weights.
- `multiworker`: `tf.distribute.MultiWorkerMirroredStrategy`, the same over several machines;
  the cluster and this process's place in it come from the `TF_CONFIG` environment variable, as
  TensorFlow documents it. Every worker runs the same command; only the chief writes the run folder.

`batch_size` is per replica: the global batch is `batch_size x replicas` and the learning rate is
scaled by the same factor (the linear scaling rule), so one replica trains exactly as `default`.

Keras 3's `Model.fit` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585:
it fails building the model from distributed batches and reducing its logs), so `multiworker`
trains with `fit_distributed`, a plain custom loop over `strategy.run` as in TensorFlow's
custom-training guide, driving the same Keras callbacks (checkpoints, progress) as `fit` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitrec._tf import backend
from digitrec._tf import keras as _keras
from digitrec._tf import tensorflow as _tensorflow
from digitrec.errors import DigitrecError, OptionError
from digitrec.runtime import in_batches
from digitrec.training.config import STRATEGIES


@dataclass
class Distribution:
    """The strategy a run trains under, and this process's place in it."""

    name: str
    strategy: Any
    replicas: int
    workers: int = 1
    task_type: str = "chief"
    task_id: int = 0
    has_chief: bool = False  # the cluster names a "chief" job; else worker 0 is the chief

    @property
    def chief(self) -> bool:
        """Whether this process writes the run folder (the only process, or the cluster's chief)."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_id == 0 and not self.has_chief)

    def describe(self) -> str:
        if self.name == "default":
            return "one device"
        where = f"{self.workers} workers, " if self.name == "multiworker" else ""
        return f"{self.name}: {where}{self.replicas} replica{'s' if self.replicas != 1 else ''}"

    def worker_dir(self, run_dir: Path) -> Path:
        """Where a worker that is not the chief keeps its checkpoints: a folder of its own,
        named by the run, so that the same command run again resumes it too."""
        digest = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"digitrec-{self.task_type}{self.task_id}-{digest}"


class _OneDevice:
    """The strategy of a run on a backend other than TensorFlow: no scope of its own."""

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def read_tf_config() -> dict[str, Any]:
    """The cluster described by TF_CONFIG: {"cluster": {"worker": ["host:port", …], …},
    "task": {"type": "worker", "index": 0}}; one clear error when it is missing or malformed."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise DigitrecError(
            "the multiworker strategy needs TF_CONFIG, the cluster and this worker's place in it, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\' (README: Several devices or machines)'
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, task_id = str(task["type"]), int(task["index"])
        addresses = cluster[task_type]
        if not isinstance(addresses, list) or not 0 <= task_id < len(addresses):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise DigitrecError(
            'TF_CONFIG is not a valid cluster description: it needs "cluster" (job name -> list of '
            'host:port) and "task" ({"type": a job in the cluster, "index": its place in it})'
        ) from None
    return config


def loopback_tf_configs(workers: int) -> list[str]:
    """TF_CONFIG values for a cluster of `workers` processes on this machine (free ports on
    127.0.0.1), one per worker: to try `--strategy multiworker` without a cluster."""
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [
        json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}}) for i in range(workers)
    ]


def _split_cpu(devices: int) -> None:
    tf = _tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    except RuntimeError:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != devices:
            raise OptionError(
                "cpu_devices",
                f"{devices} came too late: TensorFlow already started with {current} CPU device(s) in this process; "
                "set it in a new process",
            ) from None


def make_distribution(name: str, cpu_devices: int | None = None) -> Distribution:
    """Create the strategy; call before anything else starts TensorFlow's runtime.

    Args:
      name: one of STRATEGIES.
      cpu_devices: split the CPU into this many logical devices first (for `mirrored` on a
        machine without GPUs, and for tests).
    """
    if name not in STRATEGIES:
        raise DigitrecError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if backend() != "tensorflow":  # Keras on JAX: one device, as JAX places it
        if name != "default" or (cpu_devices or 0) > 1:
            raise OptionError(
                "strategy", f"{name} is TensorFlow's; on Keras's {backend()} backend a run trains on one device"
            )
        return Distribution(name, _OneDevice(), replicas=1)
    tf = _tensorflow()
    if cpu_devices and cpu_devices > 1:
        _split_cpu(cpu_devices)
    if name == "default":
        return Distribution(name, tf.distribute.get_strategy(), replicas=1)
    if name == "mirrored":
        devices = None
        if not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution(name, strategy, replicas=strategy.num_replicas_in_sync)
    config = read_tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = config["task"]
    workers = sum(len(config["cluster"].get(job, [])) for job in ("chief", "worker"))
    return Distribution(
        name,
        strategy,
        replicas=strategy.num_replicas_in_sync,
        workers=workers,
        task_type=str(task["type"]),
        task_id=int(task["index"]),
        has_chief="chief" in config["cluster"],
    )


def fit_distributed(
    model,
    dataset,
    distribution: Distribution,
    epochs: int,
    global_batch: int,
    validation: tuple[np.ndarray, np.ndarray] | None,
    callbacks: list,
) -> None:
    """Train `model` (built and compiled in the strategy's scope) on the batched tf.data `dataset`
    with a custom loop: each replica computes its share of the global batch, the optimizer
    all-reduces the gradients. Drives `callbacks` as `Model.fit` does (train, epoch and batch
    begin/end, with loss, accuracy, val_loss and val_accuracy), BackupAndRestore and
    `runs.ctrl_c_between_batches` included."""
    tf = _tensorflow()
    strategy = distribution.strategy
    options = tf.data.Options()
    # Every worker reads the same seeded pipeline and keeps its share of each global batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = strategy.experimental_distribute_dataset(dataset.with_options(options))
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    train_step = _train_step(model, strategy, global_batch)
    sync_statistics = _statistics_sync(model, strategy)
    infer = tf.function(lambda images: model(images, training=False))
    callback_list = _keras().callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    model._initial_epoch = None  # BackupAndRestore sets it when it restores a checkpoint
    callback_list.on_train_begin()
    for epoch in range(model._initial_epoch or 0, epochs):
        callback_list.on_epoch_begin(epoch)
        loss_sum = correct = seen = 0.0
        for step, (images, labels) in enumerate(batches):
            callback_list.on_train_batch_begin(step)
            step_loss, step_correct, step_seen = (float(t) for t in train_step(images, labels))
            loss_sum, correct, seen = loss_sum + step_loss, correct + step_correct, seen + step_seen
            callback_list.on_train_batch_end(step, {"loss": step_loss / max(step_seen, 1.0)})
        sync_statistics()
        logs = {"accuracy": correct / max(seen, 1.0), "loss": loss_sum / max(seen, 1.0)}
        if validation is not None:
            logs.update(_validation_logs(infer, validation))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()


def _train_step(model, strategy, global_batch: int):
    """One step on every replica, the sums of loss, correct answers and images reduced over all."""
    tf = _tensorflow()
    keras = _keras()

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            per_example = keras.losses.categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.equal(tf.argmax(probabilities, axis=1), tf.argmax(labels, axis=1))
        return (
            tf.reduce_sum(per_example),
            tf.reduce_sum(tf.cast(correct, tf.float32)),
            tf.cast(tf.shape(images)[0], tf.float32),
        )

    @tf.function
    def train_step(images, labels):
        totals = strategy.run(replica_step, args=(images, labels))
        return [strategy.reduce("SUM", t, axis=None) for t in totals]

    return train_step


def _statistics_sync(model, strategy):
    """Batch normalization's moving statistics are not trained: each replica updates its own copy
    from its share of every batch. Averaged over all replicas after each epoch, every worker (and
    the checkpoint, and the saved model) holds the statistics of all the data."""
    tf = _tensorflow()
    statistics = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]  # not seed states

    @tf.function
    def local_statistics():
        return strategy.run(lambda: [tf.identity(v.value) for v in statistics])

    def sync_statistics():
        if statistics:
            for variable, value in zip(statistics, local_statistics()):
                variable.assign(strategy.reduce("MEAN", value, axis=None))

    return sync_statistics


def _validation_logs(infer, validation: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    x_val, y_val = validation
    probabilities = in_batches(infer, x_val, 1000)
    clipped = np.clip(probabilities, 1e-7, 1.0)
    return {
        "val_accuracy": float(np.mean(probabilities.argmax(1) == y_val.argmax(1))),
        "val_loss": float(np.mean(-np.sum(y_val * np.log(clipped), axis=1))),
    }
