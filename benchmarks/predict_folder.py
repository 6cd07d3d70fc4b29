"""`digitrec predict FOLDER` on every core against one: images a second, whole command, as a user runs it.

Writes `--images` phone photos (JPEG) of MNIST test digits, made by tests/support/realistic.py, into
a temporary folder, then runs `digitrec predict FOLDER --json --jobs 1` and `--jobs N` one after the
other, `--repeats` times, alternating so that a shared machine's slow minutes fall on both. Each
figure is the median of its runs, wall-clock time of the whole command (start, model, every image,
output). The outputs must be the same byte for byte. Writes benchmarks/results/predict_folder.json.

With `--against REF` (a commit of this repository), one process of that commit's `digitrec
predict FOLDER --json` runs in the same rounds (from a temporary git worktree, with its own shipped
model, on this environment's packages): today's code against an older day's, in one sitting.

    python -m benchmarks.predict_folder [--model PATH] [--images 1500] [--jobs N] [--repeats 3] [--against REF]
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

from benchmarks.machine import machine

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


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmarks.predict_folder: {' '.join(command)} failed: {proc.stderr.decode()[-500:]}")
    return seconds, proc.stdout


def rounds(runs: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, bytes]]:
    """Each command of `runs` (name: (command, env)) once a round, `repeats` rounds: their seconds and
    output, which must not change between rounds."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, bytes] = {}
    for _ in range(repeats):
        for name, (command, env) in runs.items():
            took, out = timed(command, env)
            seconds[name].append(round(took, 3))
            if outputs.setdefault(name, out) != out:
                raise SystemExit(f"benchmarks.predict_folder: {name} answered differently between runs")
            print(f"{name}: {took:.2f} s", file=sys.stderr, flush=True)
    return seconds, outputs


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmarks.predict_folder: git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


Runs = dict[str, tuple[list[str], "dict[str, str] | None"]]


def commands(args: argparse.Namespace, folder: Path, older: Path) -> tuple[Runs, str]:
    """What each round runs: `--jobs 1` and `--jobs N` of this code, and with `--against` that
    commit's one process from a worktree in `older` (its full hash returned, else "")."""
    digitrec = shutil.which("digitrec") or str(Path(sys.executable).with_name("digitrec"))
    model = ["--model", args.model] if args.model else []
    runs: Runs = {
        str(jobs): ([digitrec, "predict", *model, "--json", "--jobs", str(jobs), str(folder)], None)
        for jobs in (1, args.jobs)
    }
    if not args.against:
        return runs, ""
    commit = git("rev-parse", "--verify", f"{args.against}^{{commit}}")
    git("worktree", "add", "--detach", str(older), commit)
    model_then = ["--model", str(older / "src" / "digitrec" / "pretrained")]
    command = [sys.executable, "-m", "digitrec", "predict", *model_then, "--json", str(folder)]
    runs["against"] = (command, {**os.environ, "PYTHONPATH": str(older / "src")})
    return runs, commit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="as `digitrec predict --model` (default: its own default)")
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="default: usable CPUs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "predict_folder.json")
    parser.add_argument("--against", metavar="REF", help="also time one process of this commit's digitrec predict")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="digitrec-predict-folder-"))
    older = folder / "older"  # the --against commit's worktree
    try:
        write_photos(folder, args.images)
        runs, commit = commands(args, folder, older)
        seconds, outputs = rounds(runs, args.repeats)
    finally:
        if older.exists():
            git("worktree", "remove", "--force", str(older))
        shutil.rmtree(folder, ignore_errors=True)
    median = {name: statistics.median(times) for name, times in seconds.items()}
    one, many = median["1"], median[str(args.jobs)]
    result = {
        "benchmark": "predict_folder",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks.predict_folder", *sys.argv[1:]]),
        "machine": machine(),
        "images": args.images,
        "seconds": seconds,
        "median_seconds": median,
        "images_per_s": {name: round(args.images / m, 1) for name, m in median.items()},
        "speedup": round(one / many, 2),
        "same_output": outputs["1"] == outputs[str(args.jobs)],
    }
    if commit:
        result["against"] = {"ref": args.against, "commit": commit, "speedup": round(median["against"] / many, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"| --jobs | seconds (median of {args.repeats}) | images/s |\n|---|---|---|\n"
        f"| 1 | {one:.2f} | {args.images / one:.0f} |\n| {args.jobs} | {many:.2f} | {args.images / many:.0f} |\n"
        f"speedup {one / many:.2f}x, same output: {result['same_output']}"
    )
    if commit:
        then = median["against"]
        print(
            f"{args.against} ({commit[:10]}), one process: {then:.2f} s, {args.images / then:.0f} images/s; "
            f"--jobs {args.jobs} now {then / many:.2f}x"
        )
    return 0 if result["same_output"] else 1


if __name__ == "__main__":
    sys.exit(main())
