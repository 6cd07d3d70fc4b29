"""How much of the realistic benchmark's bold kind a network can read at all (#29).

The bold kind widens an MNIST test digit's strokes by 5.5-11 % of its height on each side, and a
quarter of its digits have a loop filled by the marker: an 8 as a rectangle, a 9 as a disc. How
many of them can any network tell apart? This trains a specialist, `strided_cnn` (the shipped
model's layers), on the benchmark's own bold generator (`tests/support/realistic.bold_sample`)
applied to MNIST's *training* digits, read by the same `preprocess.to_mnist_array` as any upload,
and has it read the bold digits of realistic sets 0, 1 and 2 by its best guess: no threshold, no
ink rules. The models named with `--model` read the same arrays the same way, beside it.

The specialist learns the generator the benchmark is made by, so it is a ceiling estimate for the
bold kind's targets, never a model to ship or to choose anything by. It also reads a share of its
own training images again, in inference mode: what it could not fit.

    python -m benchmarks.bold_ceiling [--train 30000] [--epochs 20] [--model M ...]

Writes benchmarks/results/bold_ceiling.json. About 40 minutes on two cores (making the digits 12, training 25).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from digitrec.files import write_json

HERE = Path(__file__).resolve().parent
CHUNK = 500
# The realistic benchmark's sets: the choice set (0) at 300 digits a kind, the report sets at 100.
SETS = ((0, 300), (1, 100), (2, 100))
TRAIN_STREAM = 9_000  # the generator's seeds for training digits: none of the sets' (0-2)


def _arrays(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples read as uploads: 28x28 arrays, labels, and whether the marker closed a loop."""
    from digitrec.reading import preprocess
    from tests.support.realistic import LOOPS_CLOSED

    x = np.stack([preprocess.to_mnist_array(s.encoded, images=False) for s in samples]).astype(np.float32)
    return x, np.array([int(s.label) for s in samples]), np.array([s.glyph == LOOPS_CLOSED for s in samples])


@functools.cache
def _mnist(part: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's "train" or "test" digits (N, 28, 28) and labels, loaded once in each process."""
    from digitrec.data import datasets

    ds = datasets.load_dataset("mnist")
    x, y = (ds.x_train, ds.y_train) if part == "train" else (ds.x_test, ds.y_test)
    return (x[..., 0] if x.ndim == 4 else x), y


def _training_chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bold digits made from MNIST training digits lo..hi-1, with a seed of their own."""
    from tests.support.realistic import bold_sample

    lo, hi = bounds
    x, y = _mnist("train")
    rng = np.random.default_rng(TRAIN_STREAM + lo)
    return _arrays([bold_sample(x[i], int(y[i]), rng) for i in range(lo, hi)])


def training_set(n: int, jobs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    chunks = [(lo, min(n, lo + CHUNK)) for lo in range(0, n, CHUNK)]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        parts = pool.map(_training_chunk, chunks)
    x, y, closed = (np.concatenate(column) for column in zip(*parts))
    return x, y, closed


def report_sets(scale: float) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each set's bold digits, as the realistic benchmark draws them."""
    from tests.support.realistic import hard_samples

    x, y = _mnist("test")
    return {
        seed: _arrays([s for s in hard_samples(x, y, max(1, round(per * scale)), seed) if s.kind == "bold"])
        for seed, per in SETS
    }


def specialist(x: np.ndarray, y: np.ndarray, epochs: int, seed: int):
    """`strided_cnn` behind small shifts and turns, Adam with a cosine decay, as a `best` member."""
    from digitrec import _tf
    from digitrec.training.architectures import strided_cnn

    keras = _tf.keras()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    jitter = [
        layers.RandomTranslation(0.08, 0.08, fill_mode="constant"),
        layers.RandomRotation(0.03, fill_mode="constant"),
    ]
    model = keras.Sequential([keras.Input((28, 28, 1)), *jitter, *strided_cnn((28, 28, 1), 10).layers])
    steps = epochs * -(-len(x) // 128)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x[..., None], y, batch_size=128, epochs=epochs, verbose=2)
    return lambda arrays: model.predict(arrays[..., None], verbose=0)


def scores(read, x: np.ndarray, y: np.ndarray, closed: np.ndarray) -> dict:
    """Per cent read right by the best guess: all, those whose loops the marker closed, the rest."""
    right = read(x).argmax(axis=1) == y

    def share(mask: np.ndarray) -> float | None:
        return round(100 * float(right[mask].mean()), 1) if mask.any() else None

    return {"best_guess_right": share(np.ones_like(right)), "loops_closed": share(closed), "loops_open": share(~closed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=30_000, help="bold training digits to make")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="the specialist's training seed")
    parser.add_argument("--model", action="append", default=[], help="a model to read the same arrays (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0, help="the sets' sizes times this (a quick look)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bold_ceiling.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    x, y, closed = training_set(args.train, args.jobs)
    sets = report_sets(args.scale)
    made_s = time.perf_counter() - t0
    read = specialist(x, y, args.epochs, args.seed)
    trained_s = time.perf_counter() - t0 - made_s
    readers = {"specialist": read}
    from digitrec.reading.predictor import Predictor

    for name in args.model:
        readers[name] = Predictor(name).predict_arrays
    seen = slice(0, min(len(x), 10_000))
    record = {
        "benchmark": "bold_ceiling",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.bold_ceiling", *sys.argv[1:]]),
        "machine": machine(),
        "training_digits": len(x),
        "training_loops_closed": round(100 * float(closed.mean()), 1),
        "epochs": args.epochs,
        "made_s": round(made_s),
        "trained_s": round(trained_s),
        "specialist_on_its_training_digits": scores(read, x[seen], y[seen], closed[seen]),
        "sets": {
            str(seed): {
                "digits": len(sy),
                "loops_closed": int(sc.sum()),
                **{name: scores(r, sx, sy, sc) for name, r in readers.items()},
            }
            for seed, (sx, sy, sc) in sets.items()
        },
    }
    print(f"{'set':<4} {'digits':>6} {'closed':>6}  " + "  ".join(f"{n[-24:]:>24}" for n in readers))
    for seed, row in record["sets"].items():
        cells = "  ".join(
            f"{row[n]['best_guess_right']:>6} ({row[n]['loops_closed']} / {row[n]['loops_open']})".rjust(24)
            for n in readers
        )
        print(f"{seed:<4} {row['digits']:>6} {row['loops_closed']:>6}  {cells}")
    own = record["specialist_on_its_training_digits"]
    print(f"the specialist on {seen.stop} of its own training digits: {own['best_guess_right']} % right")
    write_json(args.out, record)  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
