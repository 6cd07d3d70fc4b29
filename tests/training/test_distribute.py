"""tf.distribute: MirroredStrategy over two logical CPUs, two MultiWorkerMirroredStrategy workers
on loopback, and the cluster description (TF_CONFIG) read with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from digitrec.errors import DigitrecError
from digitrec.training.distribute import Distribution, loopback_tf_configs, read_tf_config
from tests.support.helpers import REPO, run_cli

TINY = ["--limit-train", "1200", "--limit-test", "200", "--epochs", "2", "--no-tensorboard", "--seed", "3"]


def _epoch_lines(text: str) -> list[str]:
    """The epoch lines without their times: what was learned, epoch by epoch."""
    return [line.rsplit("  ", 1)[0] for line in text.splitlines() if line.startswith("epoch ")]


def test_mirrored_over_two_logical_cpus_trains_with_the_global_batch(tmp_path, mnist):
    run = tmp_path / "mirrored"
    proc = run_cli(
        "train",
        *TINY,
        "--strategy",
        "mirrored",
        "--cpu-devices",
        "2",
        "--batch-size",
        "64",
        "--learning-rate",
        "1e-3",
        "--run-dir",
        str(run),
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch 64 per replica (128 in all)" in proc.stdout and "mirrored: 2 replicas" in proc.stdout
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["distribution"] == {
        "strategy": "mirrored",
        "replicas": 2,
        "workers": 1,
        "batch_size_per_replica": 64,
        "global_batch_size": 128,
        "learning_rate": pytest.approx(0.002),
    }
    assert meta["test_metrics"]["accuracy"] > 0.47  # it learned: 55.5 % here (seed 3), chance is 10 %
    from digitrec import store

    assert store.load_model(run / "model.h5").output_shape == (None, 10)


def test_two_workers_train_together_and_only_the_chief_writes(tmp_path, mnist):
    run = tmp_path / "cluster"
    scratch = tmp_path / "tmp"  # the workers' own temporary folder: what they leave is this test's
    scratch.mkdir()
    procs = []
    try:
        start = time.monotonic()
        for tf_config in loopback_tf_configs(2):
            env = {**os.environ, "TF_CONFIG": tf_config, "TMPDIR": str(scratch)}
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "digitrec.cli",
                        "train",
                        *TINY,
                        "--model",
                        "fast_cnn",
                        "--batch-size",
                        "16",
                        "--strategy",
                        "multiworker",
                        "--run-dir",
                        str(run),
                    ],
                    cwd=REPO,
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        outputs = [p.communicate(timeout=300) for p in procs]
        seconds = time.monotonic() - start
    finally:
        for p in procs:  # never leave a worker waiting for its peer
            if p.poll() is None:
                p.kill()
                p.wait()
    (chief_out, chief_err), (worker_out, worker_err) = outputs
    assert [p.returncode for p in procs] == [0, 0], chief_err + worker_err
    assert "multiworker: 2 workers, 2 replicas" in chief_out
    # One model, trained together: both workers saw the same losses every epoch, and validated
    # alike (batch normalization's statistics are averaged over the workers).
    assert len(_epoch_lines(chief_out)) == 2 and _epoch_lines(chief_out) == _epoch_lines(worker_out)
    assert "worker 1 finished training; the chief writes" in worker_out
    assert "test accuracy" in chief_out and "test accuracy" not in worker_out
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["distribution"]["workers"] == 2 and meta["distribution"]["global_batch_size"] == 32
    assert not (run / "checkpoints").exists()
    assert not list(scratch.glob("digitrec-worker1-*"))  # worker 1's own checkpoints are gone

    from digitrec.data import datasets
    from digitrec.reading.predictor import Predictor

    # The chief saved the model the two trained: of the 200 test images (seed 3), 88 % on a CPU with
    # bfloat16 and 72.5 % in float32 on one without, where chance reads 10 %; loaded for reading, it
    # answers them as the run measured.
    assert meta["test_metrics"]["accuracy"] > 0.6
    predictor = Predictor(run)
    answers = predictor.predict_arrays(datasets.scale_images(mnist.x_test[:200])).argmax(axis=1)
    assert np.mean(answers == mnist.y_test[:200]) == pytest.approx(meta["test_metrics"]["accuracy"], abs=0.015)
    print(f"two workers on loopback: {seconds:.1f} s")  # the closing note compares it with one worker


def test_multiworker_needs_a_cluster_description(tmp_path):
    proc = run_cli("train", *TINY, "--strategy", "multiworker", "--run-dir", str(tmp_path / "r"), env={"TF_CONFIG": ""})
    assert proc.returncode == 1 and "needs TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("train", *TINY, "--strategy", "multiworker", env={"TF_CONFIG": "{not json"})
    assert proc.returncode == 1 and "TF_CONFIG is not a valid cluster description" in proc.stderr
    proc = run_cli("train", *TINY, "--strategy", "ring")
    assert proc.returncode == 2 and "strategy must be one of default, mirrored, multiworker" in proc.stderr


def test_the_chief_is_the_chief_job_or_else_worker_zero(monkeypatch):
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert read_tf_config()["task"]["index"] == 1
    assert Distribution("multiworker", None, 2, 2, "worker", 0).chief
    assert not Distribution("multiworker", None, 2, 2, "worker", 1).chief
    assert not Distribution("multiworker", None, 3, 3, "worker", 0, has_chief=True).chief
    assert Distribution("multiworker", None, 3, 3, "chief", 0, has_chief=True).chief
    assert Distribution("default", None, 1).chief
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 5}}))
    with pytest.raises(DigitrecError, match="not a valid cluster"):
        read_tf_config()


def test_the_multiworker_loop_drives_batch_callbacks_and_ctrl_c_stops_it_between_batches():
    """`fit_distributed`, the loop `--strategy multiworker` trains with, under the default
    strategy in this process: every batch's callbacks, as `Model.fit` calls them, so that Ctrl+C
    stops it at a batch's end (TensorFlow's runtime interrupted inside a step could corrupt its
    heap) instead of wherever it lands."""
    import signal

    import tensorflow as tf

    from digitrec import _tf
    from digitrec.training.distribute import fit_distributed
    from digitrec.training.runs import ctrl_c_between_batches

    keras = _tf.keras()
    rng = np.random.default_rng(0)
    x = rng.random((128, 28, 28, 1), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    one_device = Distribution("default", tf.distribute.get_strategy(), 1)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    ended: list[tuple[int, float]] = []

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ended.append((batch, logs["loss"]))

    fit_distributed(model, batches, one_device, 2, 32, None, [Batches()])
    assert [batch for batch, _ in ended] == [0, 1, 2, 3] * 2
    assert all(np.isfinite(loss) and loss > 0 for _, loss in ended)

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # during the second batch

    ended.clear()
    original = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with ctrl_c_between_batches() as stop, pytest.raises(KeyboardInterrupt):
            fit_distributed(model, batches, one_device, 2, 32, None, [CtrlC(), Batches(), stop])
    finally:
        signal.signal(signal.SIGINT, original)
    assert [batch for batch, _ in ended] == [0, 1]  # the second batch finished, no third began
