"""Training precision: detection faked both ways, the config round trip, a bfloat16 run saving a
float32 model that answers as the trained one did."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitrec import store
from digitrec.errors import DigitrecError
from digitrec.training import precision
from digitrec.training.config import load_config, resolve_config, save_config
from digitrec.training.runs import RunOptions
from digitrec.training.train import train_and_evaluate


def fake_machine(monkeypatch, flags: set[str], gpus: list[tuple[int, int]]):
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=precision.CPUINFO: flags)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: gpus)


def test_auto_picks_bfloat16_only_where_the_hardware_has_it(monkeypatch):
    fake_machine(monkeypatch, {"avx2", "avx512f", "avx512_bf16"}, [])
    chosen = precision.resolve_precision("auto")
    assert (chosen.used, chosen.policy) == ("bfloat16", "mixed_bfloat16") and "AVX512_BF16" in chosen.reason
    fake_machine(monkeypatch, {"avx2", "amx_bf16"}, [])
    assert precision.resolve_precision("auto").used == "bfloat16"
    fake_machine(monkeypatch, {"avx2", "avx512f", "fma"}, [])
    chosen = precision.resolve_precision("auto")
    assert (chosen.used, chosen.policy) == ("float32", "float32") and "no native bfloat16" in chosen.reason


def test_a_gpu_decides_when_there_is_one(monkeypatch):
    fake_machine(monkeypatch, {"avx512_bf16"}, [(7, 5)])  # a T4: no bfloat16, whatever the CPU has
    assert precision.resolve_precision("auto").used == "float32"
    fake_machine(monkeypatch, set(), [(8, 0)])
    assert precision.resolve_precision("auto").reason.startswith("the GPU has compute capability 8.0")


def test_an_explicit_setting_is_kept_and_says_when_it_is_emulated(monkeypatch):
    fake_machine(monkeypatch, set(), [])
    assert precision.resolve_precision("float32").used == "float32"
    chosen = precision.resolve_precision("bfloat16")
    assert chosen.used == "bfloat16" and "emulated" in chosen.reason
    with pytest.raises(DigitrecError, match="precision must be one of"):
        precision.resolve_precision("float16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    assert precision.cpu_flags(info) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert precision.cpu_flags(tmp_path / "none") == set()


def test_the_precision_round_trips_in_config_json(tmp_path):
    config = resolve_config("seed", {"precision": "bfloat16"})
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json").precision == "bfloat16"
    with pytest.raises(DigitrecError, match="precision must be one of"):
        resolve_config("seed", {"precision": "fp8"})


def test_a_float32_copy_keeps_the_weights_exactly():
    from digitrec._tf import keras
    from digitrec.training.architectures import build_model

    with precision.keras_policy(precision.Precision("bfloat16", "bfloat16", "test")):
        mixed = build_model("seed_cnn", (28, 28, 1), 10)
    assert mixed.layers[0].compute_dtype == "bfloat16" and mixed.layers[-1].compute_dtype == "float32"
    assert keras().mixed_precision.global_policy().name == "float32"  # restored after the block
    copy = precision.float32_copy(mixed, lambda: build_model("seed_cnn", (28, 28, 1), 10))
    assert all(layer.compute_dtype == "float32" for layer in copy.layers)
    assert all(np.array_equal(a, b) for a, b in zip(mixed.get_weights(), copy.get_weights()))


def test_a_bfloat16_run_saves_a_float32_model_that_answers_as_the_trained_one(tmp_path, mnist):
    from digitrec.data import datasets

    config = resolve_config(
        "seed",
        {
            "model": "seed_cnn",  # the tutorial's model and data: this test is about the precision
            "open_set": 0.0,
            "restyle": 0.0,
            "validation_split": 0.1,
            "epochs": 1,
            "limit_train": 300,
            "limit_test": 200,
            "seed": 5,
            "batch_size": 32,
            "augment": False,
            "precision": "bfloat16",
            "tensorboard": False,
        },
    )
    run = train_and_evaluate(config, RunOptions(runs_root=tmp_path, progress=False, log=lambda m: None))
    meta = json.loads((run.run_dir / "metadata.json").read_text())
    assert meta["precision"]["setting"] == "bfloat16" and meta["precision"]["used"] == "bfloat16"
    model = store.load_model(run.run_dir / "model.keras")
    assert all(layer.compute_dtype == "float32" for layer in model.layers)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    # The run's own test figures were measured on the model as saved: loading it gives the same.
    probabilities = model.predict(datasets.scale_images(mnist.x_test[:200]), verbose=0)
    accuracy = float((probabilities.argmax(axis=1) == mnist.y_test[:200]).mean())
    assert accuracy == pytest.approx(meta["test_metrics"]["accuracy"], abs=1e-12)
    assert meta["test_metrics"]["accuracy"] > 0.5  # it learned in bfloat16 (59 % here, seed 5)
