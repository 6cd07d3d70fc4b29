"""TrainConfig: every training setting with its default in one place, and named presets.

A preset is a set of overrides of the defaults; command-line flags override the preset, field by
field. The resolved config is saved as `config.json` in the run folder, and a run can be repeated
from it (`digitrec train --config runs/…/config.json`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitrec.errors import DigitrecError, OptionError
from digitrec.training.precision import PRECISIONS


def _opt(help_text: str, **kwargs: Any) -> Any:
    """A field with a default and its command-line help."""
    default = kwargs.pop("default")
    return field(default=default, metadata={"help": help_text, **kwargs})


@dataclass
class TrainConfig:
    """One training run, fully described."""

    preset: str = _opt("the named preset these settings started from", default="seed", cli=False)
    dataset: str = _opt("dataset name (mnist, fashion_mnist, cifar10, or any name with --data-file)", default="mnist")
    data_file: str | None = _opt("your own .npz (x_train, y_train, x_test, y_test) or IDX folder", default=None)
    model: str = _opt("model builder name (see `digitrec train --list-models`)", default="seed_cnn")
    epochs: int = _opt("passes over the training set", default=5)
    batch_size: int = _opt("images per gradient step", default=64)
    learning_rate: float = _opt("optimizer learning rate", default=1e-3)
    optimizer: str = _opt("adam, sgd, rmsprop or adadelta", default="adam")
    lr_schedule: str = _opt(
        "constant; cosine (decays the learning rate to 0 over the run); warmup_cosine "
        "(rises from a tenth of it over the first quarter epoch, then cosine)",
        default="cosine",
    )
    validation_split: float = _opt("fraction of the training set held out for validation", default=0.1)
    seed: int = _opt("random seed: the same seed on the same machine gives the same weights", default=42)
    limit_train: int | None = _opt(
        "train on the first N images only (after the seeded shuffle): a fast path", default=None
    )
    limit_test: int | None = _opt("evaluate on the first N test images only", default=None)
    augment: bool = _opt(
        "augment training images on the fly: small rotations, shifts, zoom, thicker strokes", default=False
    )
    open_set: float = _opt(
        "share of non-digit images (letters, kana, kanji, symbols, shapes) added to the training set with "
        "the same probability for every digit, so the model learns to be unsure of them (Outlier Exposure); 0: off",
        default=0.0,
    )
    restyle: float = _opt(
        "share of the training digits added again restyled: written with a marker, counted in 8x8 blocks, or a "
        "few pixels tall and blown up, each read by the same preprocessing as a user's image; 0: off",
        default=0.0,
    )
    precision: str = _opt(
        "auto (mixed bfloat16 where the CPU or GPU runs it natively, else float32), float32 "
        "or bfloat16; saved models are float32 either way",
        default="auto",
    )
    tensorboard: bool = _opt("write TensorBoard logs to <run>/logs", default=True)
    strategy: str = _opt(
        "tf.distribute strategy: default (one device), mirrored (all GPUs, or --cpu-devices), "
        "multiworker (the cluster in TF_CONFIG); --batch-size is then per replica",
        default="default",
    )
    cpu_devices: int | None = _opt(
        "split the CPU into N logical devices (to try --strategy mirrored without GPUs)", default=None
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DigitrecError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values).validated()

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> TrainConfig:
        """Check value types and ranges; raise an OptionError naming the bad field."""
        from digitrec.training.architectures import MODELS

        for each in dataclasses.fields(self):  # a config file may hold anything JSON holds
            wrong = _type_problem(str(each.type), getattr(self, each.name))
            if wrong:
                raise OptionError(each.name, wrong)
        checks = [
            (self.model in MODELS, "model", f"{self.model!r} is unknown; choose one of {', '.join(MODELS)}"),
            (self.epochs >= 1, "epochs", "must be at least 1"),
            (self.batch_size >= 1, "batch_size", "must be at least 1"),
            (0 < self.learning_rate < math.inf, "learning_rate", "must be a positive number"),
            (0.0 <= self.validation_split < 1.0, "validation_split", "must be in [0, 1)"),
            (self.limit_train is None or self.limit_train >= 1, "limit_train", "must be at least 1"),
            (0.0 <= self.open_set <= 1.0, "open_set", "must be between 0 and 1"),
            (0.0 <= self.restyle <= 1.0, "restyle", "must be between 0 and 1"),
            (self.limit_test is None or self.limit_test >= 1, "limit_test", "must be at least 1"),
            (self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}"),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}"),
            (self.strategy in STRATEGIES, "strategy", f"must be one of {', '.join(STRATEGIES)}"),
            (self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}"),
            (self.cpu_devices is None or 1 <= self.cpu_devices <= 64, "cpu_devices", "must be between 1 and 64"),
        ]
        for ok, option, problem in checks:
            if not ok:
                raise OptionError(option, problem)
        return self


_KINDS = {"int": ((int,), "a whole number"), "float": ((int, float), "a number"), "str": ((str,), "text"),
          "bool": ((bool,), "true or false")}  # fmt: skip


def _type_problem(annotation: str, value: Any) -> str | None:
    """Why `value` is not of the field's type ("int | None", …), or None when it is; a JSON true
    is no number here."""
    names = [name.strip() for name in annotation.split("|")]
    if value is None:
        return None if "None" in names else "must be given"
    for name in names:
        kinds, _ = _KINDS.get(name, ((), ""))
        if isinstance(value, kinds) and (name == "bool" or not isinstance(value, bool)):
            return None
    words = " or ".join(_KINDS[name][1] for name in names if name in _KINDS)
    return f"must be {words}, not {value!r}"


OPTIMIZERS = ("adam", "sgd", "rmsprop", "adadelta")
LR_SCHEDULES = ("constant", "cosine", "warmup_cosine")
STRATEGIES = ("default", "mirrored", "multiworker")
# LiteRT quantization (`digitrec export --quantize`): none (float32), dynamic (int8 weights,
# activations quantized on the fly; a quarter of the size), int8 (weights and activations,
# calibrated on training images). Inputs and outputs stay float32 either way.
QUANTIZATIONS = ("none", "dynamic", "int8")

# The defaults are the classic tutorial CNN's settings: Conv32-Conv64-MaxPool-Dropout-Dense128-
# Dropout-softmax, Adam at 1e-3 with a cosine decay, batch 64, 5 epochs, no augmentation.
# Presets only list what differs from these.
PRESETS: dict[str, dict[str, Any]] = {
    # `make run`: the tutorial's layers in two blocks for 5 epochs, trained to read what people
    # draw and photograph (augmented: small rotations, shifts, zoom, thicker pens) and to fill
    # the cores (batch 256, bfloat16 where native). `--preset tutorial` is the tutorial's own
    # recipe (docs/training.md: what each change costs and gains).
    # With non-digits beside the digits (a tenth as many), so that it turns letters and marks away,
    # and 15 % of the digits again restyled (bold, 8x8 block counts, a few pixels tall): 0.2 reads
    # a point more of the block digits but trains 18 % longer (docs/training.md).
    # On all 60,000 training digits, none held out for validation: a tenth more to learn from, in
    # the time the validation pass took (docs/training.md).
    "seed": {
        "model": "classic_cnn",
        "augment": True,
        "batch_size": 256,
        "learning_rate": 3e-3,
        "validation_split": 0.0,
        "open_set": 0.1,
        "restyle": 0.15,
    },
    # The tutorial's own recipe, one flag away: `seed_cnn`, no augmentation, no non-digits, batch
    # 64, learning rate 1e-3, float32 (the defaults above, with the tutorial's precision).
    "tutorial": {"precision": "float32"},
    # A minute-long sanity run: a fifth of the data, one epoch.
    "quick": {"epochs": 1, "limit_train": 12000},
    # Robust to real handwriting: a deeper CNN with batch normalization, trained on augmented
    # images, with non-digits beside the digits (a tenth as many).
    "robust": {"model": "deep_cnn", "augment": True, "epochs": 8, "learning_rate": 2e-3, "open_set": 0.1},
    # The most accurate single model: `robust` trained longer, on all 60,000 training images,
    # after a short warm-up, with non-digits (a tenth as many) and a fifth of the digits restyled.
    # With --model strided_cnn, seeds 3 and 4 averaged, it is the shipped pretrained model (docs/prediction.md).
    "best": {
        "model": "deep_cnn",
        "augment": True,
        "epochs": 48,
        "learning_rate": 2e-3,
        "lr_schedule": "warmup_cosine",
        "validation_split": 0.0,
        "open_set": 0.1,
        "restyle": 0.2,
    },
    # The quickest way to 99 % on the full training set here: a small CNN with batch
    # normalization, a large learning rate after a short warm-up, two epochs, nothing held out.
    "fast": {
        "model": "fast_cnn",
        "epochs": 2,
        "batch_size": 128,
        "learning_rate": 5e-3,
        "lr_schedule": "warmup_cosine",
        "validation_split": 0.0,
    },
}


def fields_for_cli() -> list[dataclasses.Field]:
    """The TrainConfig fields that are command-line flags."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)]


def resolve_config(
    preset: str = "seed", overrides: dict[str, Any] | None = None, base: TrainConfig | None = None
) -> TrainConfig:
    """Defaults, then the preset (unless `base` is given), then `overrides` (None values ignored)."""
    if base is None:
        if preset not in PRESETS:
            raise DigitrecError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        base = TrainConfig(preset=preset, **PRESETS[preset])
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    return base.replace(**changes)


def save_config(config: TrainConfig, path: str | Path) -> Path:
    from digitrec.files import write_json

    return write_json(path, config.to_dict())


def load_config(path: str | Path) -> TrainConfig:
    from digitrec.files import read_json

    values = read_json(path)
    if not isinstance(values, dict):
        raise DigitrecError(f"{path} does not hold a config object")
    return TrainConfig.from_dict(values)
