"""runs: the progress file, the history read back from it, checkpoints that were cut off, and a
run folder that refuses another run's settings."""

from __future__ import annotations

import os
import signal

import pytest

from digitrec.errors import DigitrecError
from digitrec.training.config import resolve_config
from digitrec.training.runs import (
    checkpoint_epoch,
    ctrl_c_between_batches,
    history_csv,
    history_from,
    prepare_run_dir,
    read_progress,
    usable_checkpoint,
)


def test_history_has_every_epoch_once_in_order_without_the_learning_rate():
    progress = {"epochs": {"2": {"loss": 0.2, "learning_rate": 1e-3}, "1": {"loss": 0.4, "learning_rate": 2e-3}}}
    history = history_from(progress, epochs=3)
    assert history == {"loss": [0.4, 0.2]}
    assert history_csv(history) == "epoch,loss\n1,0.400000\n2,0.200000\n"


def test_a_damaged_progress_file_starts_afresh(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("{not json")
    assert read_progress(path) == {"epochs": {}, "seconds": 0.0}
    path.write_text('{"epochs": {"1": {"loss": 0.5}}, "seconds": 3.0}')
    assert read_progress(path)["seconds"] == 3.0


def test_a_cut_off_checkpoint_falls_back_to_the_previous_one(tmp_path):
    import h5py

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with h5py.File(folder / "latest.weights.h5.bkp", "w") as f:
        f["w"] = [1.0]
    (folder / "training_metadata.json.bkp").write_text('{"epoch": 2}')
    (folder / "latest.weights.h5").write_bytes(b"\x89HDF\r\n half of it")  # cut off while written
    (folder / "training_metadata.json").write_text('{"epoch": 3}')
    assert usable_checkpoint(folder)
    assert checkpoint_epoch(folder, {"epochs": {}}) == 2  # the previous checkpoint is the one now
    (folder / "latest.weights.h5").write_bytes(b"junk")
    (folder / "latest.weights.h5.bkp").write_bytes(b"junk")
    assert not usable_checkpoint(folder) and not folder.exists()  # nothing usable: start over


def test_a_run_folder_takes_only_its_own_run(tmp_path):
    config = resolve_config("quick")
    prepare_run_dir(tmp_path / "run", config, resuming=False)
    assert (tmp_path / "run" / "config.json").is_file()
    prepare_run_dir(tmp_path / "run", config, resuming=True)  # the same settings resume
    with pytest.raises(DigitrecError, match="other settings"):
        prepare_run_dir(tmp_path / "run", config.replace(epochs=9), resuming=True)
    (tmp_path / "run" / "metadata.json").write_text("{}")
    with pytest.raises(DigitrecError, match="already holds a finished run"):
        prepare_run_dir(tmp_path / "run", config, resuming=False)


def test_ctrl_c_while_training_stops_at_the_batchs_end_and_a_second_at_once():
    original = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    with ctrl_c_between_batches() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # the first: noted, training goes on to the batch's end
        stop.on_train_batch_begin(0)
        with pytest.raises(KeyboardInterrupt):
            stop.on_train_batch_end(0)
        with pytest.raises(KeyboardInterrupt):
            stop.on_test_batch_end(0)  # in the epoch's validation too
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second: at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with ctrl_c_between_batches() as stop:  # without a Ctrl+C, batches end as usual
        stop.on_train_batch_end(0)
    with pytest.raises(RuntimeError, match="a step failed"), ctrl_c_between_batches():  # and failures are failures
        raise RuntimeError("a step failed")
    # After a Ctrl+C, a step that fails (a peer worker that stopped first) is the interruption.
    with pytest.raises(KeyboardInterrupt), ctrl_c_between_batches():
        os.kill(os.getpid(), signal.SIGINT)
        raise RuntimeError("UnavailableError: the peer is gone")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignored (a job in the background): left so
    try:
        with ctrl_c_between_batches():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, original)
