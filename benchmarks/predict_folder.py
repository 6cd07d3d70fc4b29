"""`digitrec predict FOLDER` on every core against one: images a second, whole command, as a user runs it.

Writes `--images` phone photos (JPEG) of MNIST test digits, made by tests/support/realistic.py, into
a temporary folder, then runs `digitrec predict FOLDER --json --jobs 1` and `--jobs N` one after the
other, `--repeats` times, alternating so that a shared machine's slow minutes fall on both. Each
figure is the median of its runs, wall-clock time of the whole command (start, model, every image,
output). The outputs must be the same byte for byte. Writes benchmarks/results/predict_folder.json.

    python -m benchmarks.predict_folder [--model PATH] [--images 1500] [--jobs N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.preprocess_speed import cpu_name

HERE = Path(__file__).resolve().parent


def write_photos(folder: Path, count: int) -> None:
    """`count` phone photos of MNIST test digits, named by their order and the right digit."""
    from digitrec.data import datasets
    from tests.support.realistic import digit_sample

    ds = datasets.load_dataset("mnist")
    rng = np.random.default_rng(0)
    for k in range(count):
        label = int(ds.y_test[k])
        sample = digit_sample(ds.x_test[k, ..., 0], label, "phone_photo", rng)
        (folder / f"{k:05d}-{label}.jpg").write_bytes(sample.encoded)


def timed(command: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmarks.predict_folder: {' '.join(command)} failed: {proc.stderr.decode()[-500:]}")
    return seconds, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="as `digitrec predict --model` (default: its own default)")
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="default: usable CPUs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "predict_folder.json")
    args = parser.parse_args()

    digitrec = shutil.which("digitrec") or str(Path(sys.executable).with_name("digitrec"))
    folder = Path(tempfile.mkdtemp(prefix="digitrec-predict-folder-"))
    try:
        write_photos(folder, args.images)
        model = ["--model", args.model] if args.model else []
        seconds: dict[int, list[float]] = {1: [], args.jobs: []}
        outputs: dict[int, bytes] = {}
        for _ in range(args.repeats):
            for jobs in (1, args.jobs):
                took, out = timed([digitrec, "predict", *model, "--json", "--jobs", str(jobs), str(folder)])
                seconds[jobs].append(round(took, 3))
                if outputs.setdefault(jobs, out) != out:
                    raise SystemExit(f"benchmarks.predict_folder: --jobs {jobs} answered differently between runs")
                print(f"--jobs {jobs}: {took:.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    one, many = statistics.median(seconds[1]), statistics.median(seconds[args.jobs])
    result = {
        "benchmark": "predict_folder",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks.predict_folder", *sys.argv[1:]]),
        "cpu": cpu_name(),
        "cpus": len(os.sched_getaffinity(0)),
        "images": args.images,
        "seconds": {str(k): v for k, v in seconds.items()},
        "median_seconds": {"1": one, str(args.jobs): many},
        "images_per_s": {"1": round(args.images / one, 1), str(args.jobs): round(args.images / many, 1)},
        "speedup": round(one / many, 2),
        "same_output": outputs[1] == outputs[args.jobs],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"| --jobs | seconds (median of {args.repeats}) | images/s |\n|---|---|---|\n"
        f"| 1 | {one:.2f} | {args.images / one:.0f} |\n| {args.jobs} | {many:.2f} | {args.images / many:.0f} |\n"
        f"speedup {one / many:.2f}x, same output: {result['same_output']}"
    )
    return 0 if result["same_output"] else 1


if __name__ == "__main__":
    sys.exit(main())
