"""Epoch time: plain `model.fit` on NumPy arrays against the tf.data pipeline digitrec uses
(shuffle, batch, prefetch; and with augmentation on the fly), on the full 60,000 images.

    python -m benchmarks.input_pipeline [--models fast_cnn seed_cnn] [--repeats 3]

Each measurement is one epoch of a fresh model in this process after one warm-up epoch (tracing
and start-up excluded); medians over the repeats, all in one run so the ratios compare.
Writes benchmarks/results/input_pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fast_cnn", "seed_cnn"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    from digitrec._tf import keras as _keras
    from digitrec.data import datasets
    from digitrec.training.architectures import build_model
    from digitrec.training.augment import training_dataset
    from digitrec.training.train import set_determinism

    keras = _keras()
    mnist = datasets.load_dataset("mnist")
    x, y = datasets.scale_images(mnist.x_train), datasets.one_hot(mnist.y_train, 10)
    paths = {
        "arrays": lambda model: model.fit(
            x, y, batch_size=args.batch_size, epochs=2, shuffle=True, verbose=0, callbacks=[timer]
        ),
        "tf.data": lambda model: model.fit(
            training_dataset(x, y, args.batch_size, seed=1, augment=False),
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[timer],
        ),
        "tf.data + augmentation": lambda model: model.fit(
            training_dataset(x, y, args.batch_size, seed=1), epochs=2, shuffle=False, verbose=0, callbacks=[timer]
        ),
    }

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = Timer()
    rows = []
    for name in args.models:
        for path, fit in paths.items():
            seconds = []
            for k in range(args.repeats):
                set_determinism(k)
                model = build_model(name, (28, 28, 1), 10)
                model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
                timer.seconds = []
                fit(model)
                seconds.append(timer.seconds[1])  # the second epoch: traced and warm
            rows.append(
                {
                    "model": name,
                    "input": path,
                    "epoch_seconds_median": statistics.median(seconds),
                    "epoch_seconds": seconds,
                }
            )
            print(f"{name:9s} {path:24s} {statistics.median(seconds):6.1f} s/epoch", flush=True)
    result = {
        "benchmark": "input_pipeline",
        "command": " ".join(["python", "-m", "benchmarks.input_pipeline", *sys.argv[1:]]),
        "machine": machine(),
        "batch_size": args.batch_size,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "input_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
