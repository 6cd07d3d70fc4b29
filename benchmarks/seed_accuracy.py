"""Accuracy and training time of a recipe over several seeds, on the full dataset.

Runs `digitrec train` once per seed (each in its own process, as a user would) and writes
`benchmarks/results/<preset>-<dataset>.json` and a Markdown table beside it.

    python -m benchmarks.seed_accuracy --preset seed --seeds 1 2 3
    python -m benchmarks.seed_accuracy --preset fast --seeds 1 2 3 --ensemble 3
    python -m benchmarks.seed_accuracy --preset best --from-runs runs/best-seed1   # record a long run
    python -m benchmarks.seed_accuracy --recipe "best strided_cnn" --from-runs runs/strided   # name it
    python -m benchmarks.seed_accuracy --preset best --from-runs runs/best-seed2 --add   # one more seed
    make bench ARGS="--seeds 1 2 3"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.machine import machine

HERE = Path(__file__).resolve().parent


def run_one(preset: str, dataset: str, seed: int, runs_root: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "digitrec",
        "train",
        "--preset",
        preset,
        "--dataset",
        dataset,
        "--seed",
        str(seed),
        "--runs-root",
        str(runs_root),
        "--json",
        "--no-tensorboard",
        *extra,
    ]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return from_run(Path(json.loads(out)["run_dir"]))


def from_run(run_dir: Path) -> dict:
    """The figures a finished run folder recorded."""
    meta = json.loads((run_dir / "metadata.json").read_text())
    history_file = run_dir / "history.json"  # an ensemble has its members' histories
    history = json.loads(history_file.read_text()) if history_file.is_file() else {}
    return {
        "seed": meta["training"]["seed"],
        "test_accuracy": meta["test_metrics"]["accuracy"],
        "test_loss": meta["test_metrics"]["loss"],
        "train_seconds": meta["training"]["seconds"],
        "epochs": meta["training"]["epochs"],
        "seconds_per_epoch": meta["training"]["seconds_per_epoch"],
        "training_command": meta.get("command"),
        "val_accuracy": history.get("val_accuracy", []),
        "versions": meta["versions"],
        "members": [m["test_accuracy"] for m in meta.get("ensemble", {}).get("members", [])],
    }


def recorded_runs(path: Path) -> list[dict]:
    """The runs an earlier result file holds; none when there is no file yet."""
    if not path.is_file():
        return []
    return json.loads(path.read_text())["runs"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="seed")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--ensemble", type=int, metavar="K", help="train K-model ensembles (train --ensemble K)")
    parser.add_argument(
        "--from-runs",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="record finished run folders of --preset instead of training (long runs done once)",
    )
    parser.add_argument(
        "--recipe", help="the name recorded, and of the result files (default: the preset, with xK for an ensemble)"
    )
    parser.add_argument(
        "--add",
        action="store_true",
        help="keep the runs the result file already holds (a long recipe recorded a seed at a time)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("extra", nargs="*", help="more `digitrec train` flags, after --")
    args = parser.parse_args()

    if args.ensemble:
        args.extra = [*args.extra, "--ensemble", str(args.ensemble)]
    recipe = args.recipe or (f"{args.preset} x{args.ensemble}" if args.ensemble else args.preset)
    stem = f"{re.sub(r'[^A-Za-z0-9_.]+', '-', recipe).strip('-')}-{args.dataset}"
    runs = recorded_runs(args.out / f"{stem}.json") if args.add else []
    for run_dir in args.from_runs or []:
        run = from_run(run_dir)
        # a seed recorded again replaces its old entry (training is deterministic here)
        runs = [r for r in runs if r["seed"] != run["seed"]]
        runs.append(run)
    with tempfile.TemporaryDirectory(prefix="digitrec-bench-") as tmp:
        for seed in [] if args.from_runs else args.seeds:
            runs.append(run_one(args.preset, args.dataset, seed, Path(tmp), args.extra))
            print(
                f"seed {seed}: test accuracy {runs[-1]['test_accuracy']:.4f}, {runs[-1]['train_seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    acc = [r["test_accuracy"] for r in runs]
    secs = [r["train_seconds"] for r in runs]
    epoch = [r["seconds_per_epoch"] for r in runs]
    result = {
        "benchmark": "seed_accuracy",
        "preset": args.preset,
        "recipe": recipe,
        "dataset": args.dataset,
        "command": " ".join(["python", "-m", "benchmarks.seed_accuracy", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": runs[0]["versions"],
        "summary": {
            "test_accuracy_mean": statistics.mean(acc),
            "test_accuracy_min": min(acc),
            "test_accuracy_max": max(acc),
            "test_accuracy_stdev": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "train_seconds_median": statistics.median(secs),
            "seconds_per_epoch_median": statistics.median(epoch),
        },
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["summary"]
    table = [
        "| recipe | dataset | seeds | test accuracy mean (min-max) | training time median | s/epoch median |",
        "|---|---|---|---|---|---|",
        f"| {recipe} | {args.dataset} | {len(runs)} | {s['test_accuracy_mean']:.2%} "
        f"({s['test_accuracy_min']:.2%}-{s['test_accuracy_max']:.2%}) | {s['train_seconds_median']:.0f} s "
        f"| {s['seconds_per_epoch_median']:.1f} |",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
