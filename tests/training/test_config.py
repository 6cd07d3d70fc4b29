"""TrainConfig: defaults, presets, overrides, validation, round trip."""

import json

import pytest

from digitrec.errors import DigitrecError, OptionError
from digitrec.training.config import PRESETS, TrainConfig, load_config, resolve_config, save_config


def test_seed_preset_is_the_classic_tutorial_cnn_trained_for_real_digits():
    config = resolve_config("seed")
    assert (config.model, config.epochs, config.optimizer) == ("classic_cnn", 5, "adam")
    assert (config.augment, config.batch_size, config.learning_rate, config.precision) == (True, 256, 3e-3, "auto")
    assert config.open_set == 0.1  # non-digits beside the digits, a tenth as many
    assert config.restyle == 0.15  # and 15 % of the digits again, bold, block-counted or small
    assert config.lr_schedule == "cosine"
    assert config.dataset == "mnist" and config.validation_split == 0.0  # all 60,000 training digits
    # The tutorial's own recipe is the defaults, one set of flags away from the preset.
    tutorial = resolve_config(
        "seed",
        {
            "model": "seed_cnn",
            "augment": False,
            "open_set": 0.0,
            "restyle": 0.0,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "validation_split": 0.1,
            "precision": "float32",
        },
    )
    assert tutorial.replace(preset="seed") == TrainConfig(precision="float32")
    assert resolve_config("tutorial") == TrainConfig(preset="tutorial", precision="float32")  # one flag away


def test_overrides_win_and_none_is_ignored():
    config = resolve_config("quick", {"epochs": 3, "batch_size": None})
    assert config.epochs == 3
    assert config.limit_train == PRESETS["quick"]["limit_train"]
    assert config.batch_size == TrainConfig().batch_size and config.preset == "quick"


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("epochs", 0, "must be at least 1"),
        ("batch_size", -1, "must be at least 1"),
        ("learning_rate", 0.0, "must be a positive number"),
        ("learning_rate", float("inf"), "must be a positive number"),  # the weights would be NaN at once
        ("learning_rate", float("nan"), "must be a positive number"),
        ("validation_split", 1.0, "must be in [0, 1)"),
        ("optimizer", "lion", "must be one of adam, sgd, rmsprop, adadelta"),
        ("limit_train", 0, "must be at least 1"),
    ],
)
def test_bad_values_are_named(field, value, problem):
    """The error names the field as the library knows it; the command line words it as a flag."""
    with pytest.raises(OptionError) as raised:
        resolve_config("seed", {field: value})
    assert (raised.value.option, raised.value.problem, str(raised.value)) == (field, problem, f"{field} {problem}")


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("epochs", "five", "must be a whole number, not 'five'"),
        ("epochs", 2.5, "must be a whole number, not 2.5"),
        ("epochs", True, "must be a whole number, not True"),
        ("learning_rate", "fast", "must be a number, not 'fast'"),
        ("augment", 1, "must be true or false, not 1"),
        ("model", ["classic_cnn"], "must be text, not ['classic_cnn']"),
        ("limit_train", "all", "must be a whole number, not 'all'"),
        ("seed", None, "must be given"),
    ],
)
def test_a_config_file_of_the_wrong_types_is_named_not_a_crash(tmp_path, field, value, problem):
    """A config.json edited by hand may hold anything JSON holds: a wrong type is an OptionError."""
    values = {**resolve_config("seed").to_dict(), field: value}
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(OptionError) as raised:
        load_config(tmp_path / "config.json")
    assert (raised.value.option, raised.value.problem) == (field, problem)


def test_a_config_file_may_write_a_whole_number_where_a_number_goes(tmp_path):
    values = {**resolve_config("seed").to_dict(), "learning_rate": 1, "limit_train": None}
    (tmp_path / "config.json").write_text(json.dumps(values))
    config = load_config(tmp_path / "config.json")
    assert (config.learning_rate, config.limit_train) == (1, None)


def test_unknown_preset_and_field():
    with pytest.raises(DigitrecError, match="unknown preset"):
        resolve_config("turbo")
    with pytest.raises(DigitrecError, match="unknown config field"):
        TrainConfig.from_dict({"epochs": 2, "warp": 9})


def test_save_and_load_round_trip(tmp_path):
    config = resolve_config("seed", {"epochs": 2, "seed": 11, "limit_train": 500})
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(DigitrecError, match="not readable JSON"):
        load_config(tmp_path / "broken.json")
