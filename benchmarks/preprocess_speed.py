"""Preprocessing per image, by kind of image, in ms: what one upload costs a worker before the model.

Each kind is a set of encoded files as users send them, made from MNIST test digits by
tests/support/realistic.py: phone photos (JPEG), the page's drawings (280x280 PNG, as the
service's page sends them), scans (a pen on white paper), small digits in a big frame, and tiny
digits (5-9 px, blown up). Each file goes through the three steps a worker runs, on one thread
as the service's workers and `predict --jobs` do (`ink.single_threaded`):

- decode: `images.load_image` (the JPEG's reduced decode included);
- ink: `ink.find_ink` less the decode (grayscale, polarity, background, the ink's pieces), as a
  single digit is first looked for (`preprocess.DIGIT_WORK_SIZE`);
- fit: `preprocess.to_mnist_array` less `find_ink` (the main cluster, the fit into 28x28, and
  for a digit too small there, such as a small digit in a big frame, the second look on more).

Every time is the best of `--repeats` runs of that image (the noise of a shared machine only ever
adds), and each kind's figure the median over its images. Writes
benchmarks/results/preprocess_speed.json.

    python -m benchmarks.preprocess_speed [--per-kind 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from digitrec.files import write_json

HERE = Path(__file__).resolve().parent
KINDS = ("photo", "drawing", "scan", "small_in_big_frame", "tiny")


def drawing(rng) -> bytes:
    """A digit drawn on the page's 280x280 canvas (black on white PNG), as the page uploads it."""
    from tests.support.helpers import canvas_seven

    x0, y0 = 60 + int(rng.integers(0, 100)), 30 + int(rng.integers(0, 40))
    image = canvas_seven([(x0, y0), (x0 + 100, y0), (x0 + 40, y0 + 200)], int(rng.integers(12, 22)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def uploads(per_kind: int, seed: int = 0) -> dict[str, list[bytes]]:
    """`per_kind` encoded files of each of KINDS."""
    from tests.support.helpers import mnist_first_test_digits
    from tests.support.realistic import digit_sample, low_resolution_sample

    digits = mnist_first_test_digits()
    rng = np.random.default_rng(seed)
    made: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    for k in range(per_kind):
        digit = digits[k % len(digits)]
        made["photo"].append(digit_sample(digit, 0, "phone_photo", rng).encoded)
        made["drawing"].append(drawing(rng))
        made["scan"].append(digit_sample(digit, 0, "pen_on_white", rng).encoded)
        made["small_in_big_frame"].append(digit_sample(digit, 0, "small_in_big_frame", rng).encoded)
        tiny = low_resolution_sample(digit, 0, rng, heights=(5, 9.999), kind="tiny", blow_up=True)
        made["tiny"].append(tiny.encoded)
    return made


def best_ms(call, data: bytes, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call(data)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


def measure(files: list[bytes], repeats: int) -> dict:
    """Median ms per step over the files (each the best of `repeats`), and the median total."""
    from digitrec.reading.images import load_image
    from digitrec.reading.ink import find_ink
    from digitrec.reading.preprocess import DIGIT_WORK_SIZE, to_mnist_array

    rows = []
    for data in files:
        decode = best_ms(lambda d: load_image(d, draft=DIGIT_WORK_SIZE, gray=True), data, repeats)
        ink = best_ms(lambda d: find_ink(d, False, work_size=DIGIT_WORK_SIZE), data, repeats)
        total = best_ms(to_mnist_array, data, repeats)
        rows.append((decode, max(0.0, ink - decode), max(0.0, total - ink), total))
    decode, ink, fit, total = (float(np.median(column)) for column in zip(*rows))
    return {"images": len(files), "decode_ms": decode, "ink_ms": ink, "fit_ms": fit, "total_ms": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "preprocess_speed.json")
    args = parser.parse_args()
    from digitrec.reading.ink import single_threaded

    single_threaded()
    files = uploads(args.per_kind)
    results = {}
    print(f"{'kind':<20} {'decode':>8} {'ink':>8} {'fit':>8} {'total':>8}  (ms, median per image)")
    for kind in KINDS:
        results[kind] = r = measure(files[kind], args.repeats)
        steps = " ".join(f"{r[step]:8.3f}" for step in ("decode_ms", "ink_ms", "fit_ms", "total_ms"))
        print(f"{kind:<20} {steps}", flush=True)
    record = {
        "benchmark": "preprocess_speed",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.preprocess_speed", *sys.argv[1:]]),
        "machine": machine(),
        "kinds": results,
    }
    write_json(args.out, record)  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
