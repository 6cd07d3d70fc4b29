"""End to end on a few hundred images: every artifact, reloads, reproducibility, evaluation."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from digitrec import store
from digitrec.errors import DigitrecError
from digitrec.training.config import resolve_config
from digitrec.training.evaluate import evaluate_saved_model
from digitrec.training.runs import RunOptions
from digitrec.training.train import train_and_evaluate

ARTIFACTS = [
    "config.json",
    "metadata.json",
    "history.csv",
    "history.json",
    "metrics.json",
    "report.txt",
    "model.keras",
    "model.h5",
    "model.tflite",
    "training_curves.png",
    "confusion_matrix.png",
    "misclassified.png",
]


def test_a_run_folder_holds_every_artifact(tiny_run):
    run = tiny_run.run_dir
    for name in ARTIFACTS:
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert any((run / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"
    for png in ("training_curves.png", "confusion_matrix.png", "misclassified.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert store.latest_run(run.parent) == run.resolve()

    meta = json.loads((run / "metadata.json").read_text())
    assert meta["versions"]["keras"].startswith("3.")
    assert meta["dataset"]["name"] == "mnist" and len(meta["dataset"]["checksum"]) == 64
    assert meta["dataset"]["train_samples"] == 270 and meta["dataset"]["validation_samples"] == 30
    assert meta["input_shape"] == [28, 28, 1] and meta["class_names"] == [str(d) for d in range(10)]
    assert meta["test_metrics"]["accuracy"] == tiny_run.metrics["test_accuracy"]
    assert "scale" in meta["preprocessing"] and meta["training"]["epochs"] == 1

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_samples"] == 200 and len(metrics["per_class"]) == 10
    assert np.array(metrics["confusion_matrix"]).sum() == 200
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"] and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert json.loads((run / "config.json").read_text())["limit_train"] == 300
    # One epoch on 270 images reaches 52 % here (seed 7, float32): the bound leaves room for
    # another CPU's arithmetic, and an untrained network's 10 % is far below it.
    assert tiny_run.metrics["test_accuracy"] > 0.45


def test_the_same_seed_gives_the_same_weights(tmp_path):
    config = resolve_config(
        "seed", {"epochs": 1, "limit_train": 256, "limit_test": 50, "seed": 3, "tensorboard": False}
    )
    runs = [
        train_and_evaluate(config, RunOptions(runs_root=tmp_path / str(i), progress=False, log=lambda m: None))
        for i in range(2)
    ]
    weights = [store.load_model(r.run_dir / "model.keras").get_weights() for r in runs]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    assert runs[0].history == runs[1].history
    other = train_and_evaluate(
        config.replace(seed=4), RunOptions(runs_root=tmp_path / "other", progress=False, log=lambda m: None)
    )
    assert not np.array_equal(store.load_model(other.run_dir).get_weights()[0], weights[0][0])


def test_fashion_mnist_trains_with_the_same_builders(tmp_path):
    from pathlib import Path

    from digitrec.data import sources
    from tests.support.helpers import need

    need(Path(sources.FASHION_MNIST_DIRS[0]).is_dir(), "Debian package dataset-fashion-mnist")
    config = resolve_config(
        "seed", {"dataset": "fashion_mnist", "epochs": 1, "limit_train": 200, "limit_test": 100, "tensorboard": False}
    )
    result = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
    meta = json.loads((result.run_dir / "metadata.json").read_text())
    assert meta["class_names"][0] == "T-shirt/top" and result.metrics["test_samples"] == 100


def test_evaluate_a_saved_model_without_retraining(tiny_run, tmp_path):
    out, metrics = evaluate_saved_model(tiny_run.run_dir / "model.h5", out_dir=tmp_path / "eval", limit_test=200)
    assert metrics["test_accuracy"] == pytest.approx(tiny_run.metrics["test_accuracy"], abs=1e-9)
    for name in ("metrics.json", "report.txt", "confusion_matrix.png", "misclassified.png", "training_curves.png"):
        assert (out / name).is_file(), name
    # A loose model file (no run folder around it) gets a fresh folder of its own.
    loose = tmp_path / "loose" / "digits.keras"
    loose.parent.mkdir()
    loose.write_bytes((tiny_run.run_dir / "model.keras").read_bytes())
    out2, metrics2 = evaluate_saved_model(loose, limit_test=50, runs_root=tmp_path / "runs")
    assert out2.parent == tmp_path / "runs" and metrics2["test_samples"] == 50
    # A part of the test set never replaces a run's record of the whole: a folder of its own.
    record = (tiny_run.run_dir / "metrics.json").read_bytes()
    out3, metrics3 = evaluate_saved_model(tiny_run.run_dir, limit_test=40, runs_root=tmp_path / "runs")
    assert out3.parent == tmp_path / "runs" and out3.name.endswith("-first40") and metrics3["test_samples"] == 40
    assert (tiny_run.run_dir / "metrics.json").read_bytes() == record and (out3 / "metrics.json").is_file()


def test_evaluate_on_two_processes_writes_the_same_files(tiny_run, tmp_path):
    """--jobs 2: a second process draws the filters and the test map from the Keras model while
    the first measures the LiteRT file; the same files, byte for byte, and its failure in one line."""
    import shutil
    from pathlib import Path

    one, _ = evaluate_saved_model(tiny_run.run_dir, out_dir=tmp_path / "one", limit_test=60, jobs=1)
    two, _ = evaluate_saved_model(tiny_run.run_dir, out_dir=tmp_path / "two", limit_test=60, jobs=2)
    names = sorted(p.name for p in one.iterdir())
    assert {"filters.png", "test_map.png", "metrics.json"} <= set(names)
    assert names == sorted(p.name for p in two.iterdir())
    assert all((one / name).read_bytes() == (two / name).read_bytes() for name in names)
    broken = Path(shutil.copytree(tiny_run.run_dir, tmp_path / "broken"))
    (broken / "model.keras").write_bytes(b"not a model")
    with pytest.raises(DigitrecError, match="drawing the network's filters and test map failed: ") as failed:
        evaluate_saved_model(broken, out_dir=tmp_path / "three", limit_test=60, jobs=2)
    assert "\n" not in str(failed.value) and (tmp_path / "three" / "metrics.json").is_file()


def test_evaluate_refuses_a_model_of_another_shape(tiny_run, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "colour.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
        y_train=np.arange(4),
        x_test=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
        y_test=np.arange(4),
    )
    with pytest.raises(DigitrecError, match=r"takes \(28, 28, 1\)"):
        evaluate_saved_model(tiny_run.run_dir, dataset_name="colour", data_file=path, out_dir=tmp_path / "o")


def test_cosine_schedule_decays_to_zero_over_the_run():
    from digitrec.training.train import make_learning_rate, make_optimizer

    config = resolve_config("seed", {"epochs": 2, "learning_rate": 0.01})
    schedule = make_learning_rate(config, steps_per_epoch=10)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(10)) == pytest.approx(0.005, rel=1e-4)
    assert float(schedule(20)) == pytest.approx(0.0, abs=1e-9)
    assert make_learning_rate(config.replace(lr_schedule="constant"), 10) == 0.01
    optimizer = make_optimizer(config.replace(optimizer="sgd"), steps_per_epoch=10)
    assert type(optimizer).__name__ == "SGD" and float(optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "name, cls, rate",
    [("adam", "Adam", 0.05), ("sgd", "SGD", 0.05), ("rmsprop", "RMSprop", 0.05), ("adadelta", "Adadelta", 1.0)],
)
def test_each_optimizer_is_the_one_named_and_lowers_the_loss(name, cls, rate):  # adadelta: its paper's rate
    import keras

    from digitrec.training.train import make_optimizer

    config = resolve_config("seed", {"optimizer": name, "learning_rate": rate, "lr_schedule": "constant"})
    optimizer = make_optimizer(config, steps_per_epoch=10)
    assert type(optimizer).__name__ == cls and float(optimizer.learning_rate) == pytest.approx(rate)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)  # one feature decides
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    before = float(model.evaluate(x, y, verbose=0))
    for _ in range(20):
        model.train_on_batch(x, y)
    assert float(model.evaluate(x, y, verbose=0)) < 0.97 * before


def test_augmentation_changes_images_not_labels(mnist):
    from digitrec.data import datasets
    from digitrec.training.augment import training_dataset
    from digitrec.training.train import set_determinism

    set_determinism(0)
    x = datasets.scale_images(mnist.x_train[:64])
    y = datasets.one_hot(mnist.y_train[:64], 10)
    images, labels = next(iter(training_dataset(x, y, batch_size=64, seed=0)))
    images, labels = np.asarray(images), np.asarray(labels)
    assert images.shape == (64, 28, 28, 1) and labels.shape == (64, 10)
    assert images.min() >= 0.0 and images.max() <= 1.0 + 1e-6
    # Shuffled, so match each augmented image to its label's originals: the labels travel along.
    assert sorted(labels.argmax(axis=1).tolist()) == sorted(mnist.y_train[:64].tolist())
    assert not any(np.allclose(images[i], x[j]) for i in range(8) for j in range(64))  # every image moved


def test_augmentation_draws_markers_block_counts_and_small_digits(mnist):
    """Each batch's first images, a slice per change (the batch is shuffled): bold strokes, the 8x8
    block counts of older datasets, and small digits blown up again."""
    from digitrec.data import datasets
    from digitrec.training import augment

    x = datasets.scale_images(mnist.x_train[:40])
    out = np.asarray(augment.augment_batch(x, np.array([5, 6], np.int64)))[..., 0]
    bold, blocks, small = (round(40 * share) for share in augment._cumulative_shares())
    assert out.shape == (40, 28, 28) and out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    ink = (out > 0.5).sum(axis=(1, 2))
    assert ink[:bold].mean() > 1.5 * ink[small:].mean()  # markers: far more ink than a pen
    # Block counts: 17 levels at most (times the image's own brightness), in blocks of 2-3 pixels.
    for image in out[bold:blocks]:
        assert len(np.unique(np.round(image / image.max() * 16, 3))) <= 17
        assert (np.diff(image, axis=1) == 0).mean() > 0.6
    grey = ((out > 0.05) & (out < 0.95)).sum(axis=(1, 2)) / np.maximum((out > 0.05).sum(axis=(1, 2)), 1)
    assert grey[blocks:small].mean() > grey[small:].mean()  # small digits blown up: soft, grey edges


def test_robust_preset_trains_with_augmentation(tmp_path):
    config = resolve_config("robust", {"epochs": 1, "limit_train": 256, "limit_test": 64, "tensorboard": False})
    assert config.model == "deep_cnn" and config.augment
    result = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
    assert result.metadata["model"]["name"] == "deep_cnn" and len(result.history["loss"]) == 1
    assert store.load_model(result.run_dir / "model.h5").output_shape == (None, 10)


@pytest.mark.parametrize("preset", ["fast", "best"])
def test_fast_and_best_presets_train_a_step(preset, tmp_path):
    config = resolve_config(preset, {"epochs": 1, "limit_train": 256, "limit_test": 64, "tensorboard": False})
    expected = {"fast": ("fast_cnn", False, 128), "best": ("deep_cnn", True, 64)}[preset]
    assert (config.model, config.augment, config.batch_size) == expected
    assert config.lr_schedule == "warmup_cosine" and config.validation_split == 0.0  # the full training set
    result = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
    assert result.metadata["dataset"]["validation_samples"] == 0 and len(result.history["loss"]) == 1
    assert "val_loss" not in result.history
    assert result.metrics["test_samples"] == 64 and result.metrics["errors"] == round(
        64 * (1 - result.metrics["test_accuracy"])
    )
    assert store.load_model(result.run_dir / "model.keras").name == expected[0]


def test_strided_cnn_trains_with_the_best_recipe(tmp_path):
    config = resolve_config(
        "best", {"model": "strided_cnn", "epochs": 1, "limit_train": 256, "limit_test": 64, "tensorboard": False}
    )
    result = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
    assert json.loads((result.run_dir / "config.json").read_text())["model"] == "strided_cnn"
    assert store.load_model(result.run_dir / "model.keras").name == "strided_cnn" and len(result.history["loss"]) == 1


def test_warmup_cosine_rises_for_a_quarter_epoch_then_decays_to_zero():
    from digitrec.training.train import make_learning_rate

    config = resolve_config("fast", {"epochs": 2, "learning_rate": 0.004})
    schedule = make_learning_rate(config, steps_per_epoch=40)  # warm-up: 10 steps of 80
    assert float(schedule(0)) == pytest.approx(0.0004)
    assert float(schedule(5)) == pytest.approx(0.0022, rel=1e-3)
    assert float(schedule(10)) == pytest.approx(0.004)
    assert float(schedule(80)) == pytest.approx(0.0, abs=1e-9)
    assert float(make_learning_rate(config, 40, replicas=2)(10)) == pytest.approx(0.008)  # scaled per replica


def test_a_callback_of_the_callers_can_stop_a_run_early(tmp_path):
    import keras

    class StopAfter(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            StopAfter.batches += 1
            if StopAfter.batches == 3:  # in the second of three epochs (two batches each)
                self.model.stop_training = True

    config = resolve_config("fast", {"epochs": 3, "limit_train": 256, "limit_test": 64, "tensorboard": False})
    result = train_and_evaluate(
        config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None), callbacks=[StopAfter()]
    )
    assert StopAfter.batches == 3 and len(result.history["loss"]) == 2
    assert result.metadata["training"]["epochs"] == 2 and (result.run_dir / "model.keras").is_file()
