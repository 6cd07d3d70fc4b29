"""Time to 99 %: how long each recipe trains before the model first reaches a test accuracy.

Trains a preset (its own schedule, over its full number of epochs) and checks the test accuracy
a few times per epoch; the first check at or above the target stops the run. The time reported is
training only: the checks' own time is left out. One process per seed, one after the other.
Writes `benchmarks/results/time_to_accuracy.json` (results of other presets already there are
kept) and prints a Markdown table.

    python -m benchmarks.time_to_accuracy --preset fast seed best --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine

HERE = Path(__file__).resolve().parent


def clock(x_test, y_test, target: float, checks_per_epoch: int):
    """A Keras callback that checks the test accuracy `checks_per_epoch` times per epoch and
    stops training at the first check that reaches `target`; `.reached` holds where and when."""
    import keras
    import numpy as np

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.excluded, self.epoch = time.perf_counter(), 0.0, 0
            self.checks, self.reached = [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            steps = self.params["steps"]
            every = max(1, steps // checks_per_epoch)
            if (batch + 1) % every and batch + 1 != steps:
                return
            began = time.perf_counter()
            probabilities = self.model.predict(x_test, batch_size=1000, verbose=0)
            accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
            check = {
                "epochs": round(self.epoch + (batch + 1) / steps, 3),
                "train_seconds": round(began - self.start - self.excluded, 2),
                "test_accuracy": accuracy,
            }
            self.checks.append(check)
            self.excluded += time.perf_counter() - began
            if accuracy >= target and self.reached is None:
                self.reached = check
                self.model.stop_training = True

    return Clock()


def measure(preset: str, seed: int, target: float, checks_per_epoch: int) -> dict:
    """One training of `preset` with `seed`, stopped at `target`."""
    from digitrec.data import datasets
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    config = resolve_config(preset, {"seed": seed, "tensorboard": False})
    dataset = datasets.load_dataset(config.dataset)
    callback = clock(datasets.scale_images(dataset.x_test), dataset.y_test, target, checks_per_epoch)
    with tempfile.TemporaryDirectory(prefix="digitrec-tta-") as tmp:
        train_and_evaluate(config, RunOptions(runs_root=tmp, progress=False, log=lambda m: None), callbacks=[callback])
    return {
        "preset": preset,
        "seed": seed,
        "reached": callback.reached,
        "epochs_planned": config.epochs,
        "checks": callback.checks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["fast", "seed", "best"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--checks-per-epoch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "SEED"), help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.target, args.checks_per_epoch)))
        return 0

    import subprocess

    out_file = args.out / "time_to_accuracy.json"
    result = (
        json.loads(out_file.read_text()) if out_file.is_file() else {"benchmark": "time_to_accuracy", "presets": {}}
    )
    for preset in args.preset:
        runs = []
        for seed in args.seeds:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                preset,
                str(seed),
                "--target",
                str(args.target),
                "--checks-per-epoch",
                str(args.checks_per_epoch),
            ]
            runs.append(json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout))
            reached = runs[-1]["reached"]
            print(
                f"{preset} seed {seed}: "
                + (
                    f"{reached['test_accuracy']:.2%} after {reached['epochs']:.2f} epochs, "
                    f"{reached['train_seconds']:.1f} s"
                    if reached
                    else "never reached"
                ),
                file=sys.stderr,
                flush=True,
            )
        times = [r["reached"]["train_seconds"] for r in runs if r["reached"]]
        result["presets"][preset] = {
            "target": args.target,
            "seeds": args.seeds,
            "reached": len(times),
            "train_seconds_median": statistics.median(times) if times else None,
            "epochs_median": statistics.median(r["reached"]["epochs"] for r in runs if r["reached"]) if times else None,
            "command": " ".join(
                [
                    "python",
                    "-m",
                    "benchmarks.time_to_accuracy",
                    "--preset",
                    preset,
                    "--seeds",
                    *map(str, args.seeds),
                    "--target",
                    str(args.target),
                ]
            ),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "runs": runs,
        }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"| recipe | time to {args.target:.0%} (median) | epochs (median) | seeds that reached it |\n|---|---|---|---|"
    )
    for preset, r in result["presets"].items():
        print(
            f"| {preset} | {_round(r['train_seconds_median'], 1)} s | {_round(r['epochs_median'], 2)} | "
            f"{r['reached']} of {len(r['seeds'])} |"
        )
    return 0


def _round(value: float | None, digits: int) -> str:
    """A figure for people: rounded where it is printed (the JSON keeps it whole)."""
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
