"""Two ways to learn "not a digit", compared on the realistic set's held-out non-digits:

- uniform (what `--open-set` does; Outlier Exposure / the entropic open-set loss): non-digits are
  trained towards the same probability for every digit, and a low best probability means "no
  digit";
- an 11th class: non-digits are trained as a class of their own, and "no digit" is a low best
  probability among the ten digits (the 11th taking the rest).

Both train `seed`'s recipe (classic_cnn, augmented, batch 256, 5 epochs, the same 5,400 generated
non-digits, the same seed); the uniform model is `digitrec train --preset seed`, the 11-class one
the same pieces (`architectures`, `augment.training_dataset`, `negatives`) with 11 outputs. Both answer the
realistic set (tests/support/realistic.py, seed 0) through the same preprocessing and ink rules; the
report gives, for each, MNIST test accuracy and the share of digits and of each kind of non-digit
answered "no digit" at the threshold where digits turned away stay at or under 0.5 %.

    python -m benchmarks.open_set_compare [--seed 0] [--uniform-run RUN]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from tests.support.realistic import DIGIT_KINDS, NON_DIGIT_GROUPS, make_set

HERE = Path(__file__).resolve().parent


DIGIT_BUDGET = 0.005  # digits turned away at most


def train_eleven(seed: int, log=print):
    """`seed`'s recipe with an 11th output for the non-digits."""
    from digitrec._tf import keras
    from digitrec.data import datasets
    from digitrec.training import architectures, augment, negatives, precision, train
    from digitrec.training.config import resolve_config

    config = resolve_config("seed", {"seed": seed})
    dataset = datasets.load_dataset("mnist")
    keep = len(dataset.x_train) - round(config.validation_split * len(dataset.x_train))
    x, y = dataset.x_train[:keep], dataset.y_train[:keep]
    extra = negatives.training_set(round(config.open_set * len(x)), seed, None, log)
    images = np.concatenate([datasets.scale_images(x), datasets.scale_images(extra).reshape(-1, 28, 28, 1)])
    labels = np.concatenate([y, np.full(len(extra), 10)])
    targets = np.eye(11, dtype=np.float32)[labels]
    keras().mixed_precision.set_global_policy(precision.resolve_precision(config.precision).policy)
    keras().utils.set_random_seed(seed)
    model = architectures.build_model(config.model, (28, 28, 1), 11)
    steps = int(np.ceil(len(images) / config.batch_size))
    model.compile(optimizer=train.make_optimizer(config, steps), loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(augment.training_dataset(images, targets, config.batch_size, seed, True), epochs=config.epochs, verbose=0)
    seconds = time.perf_counter() - start
    keras().mixed_precision.set_global_policy("float32")
    test = np.asarray(model.predict(datasets.scale_images(dataset.x_test), batch_size=512, verbose=0))
    accuracy = float((test[:, :10].argmax(axis=1) == dataset.y_test).mean())
    return model, accuracy, seconds


def no_digit_scores(probabilities: np.ndarray) -> np.ndarray:
    """1 - the best digit's probability: the higher, the surer "not a digit" (either model)."""
    return 1.0 - probabilities[:, :10].max(axis=1)


def report(name: str, scores: np.ndarray, ink: np.ndarray, kinds: list[str], digit: np.ndarray) -> dict:
    """Shares answered "no digit" at the threshold that turns away at most DIGIT_BUDGET of the digits."""
    candidates = np.unique(np.concatenate([[1.0], scores]))
    best = 1.0
    for t in sorted(candidates, reverse=True):  # the lowest threshold within the digits' budget
        rejected = ink | (scores >= t)
        if rejected[digit].mean() <= DIGIT_BUDGET:
            best = t
    rejected = ink | (scores >= best)
    kinds_arr = np.array(kinds)
    out = {"model": name, "threshold_min_confidence": round(1 - float(best), 4),
           "digits_answered_no_digit": float(rejected[digit].mean())}  # fmt: skip
    for group, members in NON_DIGIT_GROUPS.items():
        chosen = np.isin(kinds_arr, members)
        out[f"{group}_answered_no_digit"] = float(rejected[chosen].mean()) if chosen.any() else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uniform-run", help="a run of `digitrec train --preset seed` (default: train one)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from digitrec.data import datasets
    from digitrec.files import read_json
    from digitrec.reading import preprocess
    from digitrec.reading.predictor import Predictor
    from digitrec.reading.rules import judge_ink

    run = args.uniform_run
    if run is None:
        from digitrec.training.config import resolve_config
        from digitrec.training.runs import RunOptions
        from digitrec.training.train import train_and_evaluate

        run = str(train_and_evaluate(resolve_config("seed", {"seed": args.seed}), RunOptions(progress=False)).run_dir)
    uniform = Predictor(run)
    uniform_accuracy = read_json(Path(run) / "metadata.json")["test_metrics"]["accuracy"]
    eleven, eleven_accuracy, eleven_seconds = train_eleven(args.seed)

    ds = datasets.load_dataset("mnist")
    samples = [s for s in make_set(ds.x_test, ds.y_test, 100, 0, 0, 100, hard=False) if s.kind != "number"]
    pre = [preprocess.to_mnist_array(s.encoded, return_steps=True) for s in samples]
    arrays = np.stack([p.array for p in pre])
    ink = np.array([judge_ink(p) is not None for p in pre])
    kinds = [s.kind for s in samples]
    digit = np.array([k in DIGIT_KINDS or k in ("font", "outline_font", "low_resolution") for k in kinds])
    results = [
        {**report("uniform (--open-set)", no_digit_scores(uniform.predict_arrays(arrays)), ink, kinds, digit),
         "mnist_test_accuracy": uniform_accuracy},
        {**report("11th class", no_digit_scores(np.asarray(eleven.predict(arrays[..., None], verbose=0))), ink,
                  kinds, digit),
         "mnist_test_accuracy": eleven_accuracy, "train_seconds": round(eleven_seconds, 1)},
    ]  # fmt: skip
    result = {
        "benchmark": "open_set_compare",
        "command": " ".join(["python", "-m", "benchmarks.open_set_compare", *sys.argv[1:]]),
        "machine": machine(),
        "uniform_run": run,
        "digit_budget": DIGIT_BUDGET,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "open_set_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
