"""Shared fixtures: a private dataset cache and runs folder, and the trained runs many tests use.

Helpers that are not fixtures live in `tests.support`, which benchmarks import too."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.helpers import IN_CI, TUTORIAL

# In CI the property tests draw the same examples every run, so a red build is one that the next
# run reproduces; on a developer's machine they explore new ones each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if IN_CI else "default")

# Every test sees its own dataset cache and runs folder, never the user's.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="digitrec-tests-"))
os.environ["DIGITREC_DATA_DIR"] = str(_SESSION_TMP / "data")
os.environ["DIGITREC_RUNS"] = str(_SESSION_TMP / "runs")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_sessionfinish(session, exitstatus):
    """The session's data cache and runs go when it ends (a few hundred MB over many runs)."""
    import shutil

    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def mnist():
    from digitrec.data import datasets

    return datasets.load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One real training run on 300 MNIST images, shared by the tests that need a saved model."""
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    config = resolve_config("seed", {"epochs": 1, "limit_train": 300, "limit_test": 200, "seed": 7, **TUTORIAL})
    root = tmp_path_factory.mktemp("runs")
    return train_and_evaluate(config, RunOptions(runs_root=root, progress=False, log=lambda msg: None))


@pytest.fixture(scope="session")
def good_run(tmp_path_factory):
    """A model good enough to judge answers on clear images: 2 epochs on 8,000 images (~96 %)."""
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    config = resolve_config(
        "seed", {"epochs": 2, "limit_train": 8000, "limit_test": 500, "seed": 1, "tensorboard": False, **TUTORIAL}
    )
    return train_and_evaluate(
        config, RunOptions(runs_root=tmp_path_factory.mktemp("good"), progress=False, log=lambda m: None)
    )
