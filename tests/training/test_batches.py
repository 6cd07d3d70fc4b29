"""Training on a Keras backend without TensorFlow (`KERAS_BACKEND=jax`): the batches of
`training.batches` are the tf.data pipeline's (the same changes for the same draws, every image
once an epoch), and a whole run trains on JAX with TensorFlow unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.support.helpers import need


def test_the_numpy_changes_are_tensorflows_for_the_same_draws(mnist):
    """Rotation, zoom and shifts, the thicker pen, the marker, the block counts and the small
    digits blown up smoothly or in blocks: the same images from OpenCV as from TensorFlow."""
    from digitrec._tf import tensorflow
    from digitrec.data import datasets
    from digitrec.training import augment, batches

    tf = tensorflow()
    every = datasets.scale_images(mnist.x_train[:300]).reshape(-1, 28, 28, 1)
    for seed, size in enumerate([300, 300, 300, 1, 2, 7]):  # the last batch of an epoch may be small
        x = every[:size]
        draws = np.random.default_rng(seed).random((augment.DRAWS, size), np.float32)
        expected = augment.changed(tf.constant(x), tf.constant(draws)).numpy()
        made = batches.changed(x.copy(), draws)
        assert made.shape == expected.shape == x.shape
        assert np.abs(made - expected).max() < 1e-4
        assert np.abs(made - x).max(axis=(1, 2, 3)).min() > 0.1  # every image changed


def test_batches_are_the_same_for_a_seed_and_hold_every_image_once_an_epoch(mnist):
    from digitrec.data import datasets
    from digitrec.training.batches import batches

    x = datasets.scale_images(mnist.x_train[:150]).reshape(-1, 28, 28, 1)
    ids = np.arange(150, dtype=np.float32)[:, None]  # each image's own number, as its "target"
    plain = batches(x, ids, 64, seed=3, augment=False)
    assert len(plain) == 3

    def epoch(data):
        return [data[i] for i in range(len(data))]

    first = epoch(plain)
    order = np.concatenate([targets[:, 0] for _, targets in first]).astype(int)
    assert sorted(order.tolist()) == list(range(150)) and order.tolist() != list(range(150))
    assert all(np.array_equal(images, x[targets[:, 0].astype(int)]) for images, targets in first)  # targets travel
    plain.on_epoch_end()
    again = np.concatenate([targets[:, 0] for _, targets in epoch(plain)]).astype(int)
    assert sorted(again.tolist()) == list(range(150)) and again.tolist() != order.tolist()  # shuffled anew
    resumed = batches(x, ids, 64, seed=3, augment=False, epoch=1)  # a run resumed after its first epoch
    assert np.array_equal(np.concatenate([targets[:, 0] for _, targets in epoch(resumed)]).astype(int), again)

    one, two = batches(x, ids, 64, seed=3), batches(x, ids, 64, seed=3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(epoch(one), epoch(two)))  # the same seed
    changed, targets = one[0]
    assert not np.allclose(changed, x[targets[:, 0].astype(int)])  # augmented
    assert not np.array_equal(changed, batches(x, ids, 64, seed=4)[0][0])


def test_a_run_trains_on_jax_with_tensorflow_unimportable(tmp_path):
    """`KERAS_BACKEND=jax digitrec train` on a machine without TensorFlow (here: made
    unimportable), with the recipe `make run` uses; then TensorFlow writes its LiteRT file."""
    import importlib.util

    need(importlib.util.find_spec("jax") is not None, "jax (pip install -e '.[jax]')")
    run = tmp_path / "jax-run"
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # import tensorflow raises ImportError
        from digitrec.cli.main import main
        trained = main(["train", "--preset", "seed", "--limit-train", "1200", "--limit-test", "200",
                        "--epochs", "3", "--batch-size", "32", "--run-dir", {str(run)!r}, "--no-progress"])
        print("=" * 20)  # then the front ends answer with the run's Keras model, on JAX
        sys.exit(trained or main(["predict", "--model", {str(run)!r}, "--random", "5", "--json"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no LiteRT file: this run trained on Keras's jax backend" in done.stdout + done.stderr
    answered = json.loads(done.stdout.split("=" * 20)[1])
    assert answered["model"] == "jax-run" and answered["count"] == 5 and len(answered["predictions"]) == 5
    assert answered["correct"] >= 2
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["versions"]["keras_backend"] == "jax" and "tensorflow" not in meta["versions"]
    # 15 % of all 1,200 training digits restyled: the recipe holds none out for validation
    assert meta["test_metrics"]["accuracy"] > 0.6 and meta["dataset"]["restyled_samples"] == 180
    assert (run / "model.keras").is_file() and not (run / "model.tflite").exists()

    from digitrec.training.export import add_litert_to_run

    record = add_litert_to_run(run, log=lambda line: None)
    assert record["file"] == "model.tflite" and record["agreement_with_keras"] >= 0.99


def test_tensorflows_strategies_are_refused_on_another_backend(monkeypatch):
    from digitrec.errors import OptionError
    from digitrec.training.distribute import make_distribution

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert make_distribution("default").replicas == 1
    with pytest.raises(OptionError, match="mirrored is TensorFlow's; on Keras's jax backend"):
        make_distribution("mirrored")
