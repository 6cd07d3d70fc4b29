"""The same small training job under each --strategy: one process, MirroredStrategy over two
logical CPUs, and two MultiWorkerMirroredStrategy workers on 127.0.0.1.

    python -m benchmarks.distributed [--repeats 3] [--limit-train 6000] [--epochs 2]

Wall time of the whole command (start-up, data, training, save, evaluation) and the training
time each run recorded; medians over the repeats. Writes benchmarks/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent


def run(strategy: str, job: list[str], run_dir: Path) -> dict:
    command = [sys.executable, "-m", "digitrec", "train", *job, "--run-dir", str(run_dir), "--json"]
    envs = [dict(os.environ)]
    if strategy == "mirrored":
        command += ["--strategy", "mirrored", "--cpu-devices", "2"]
    elif strategy == "multiworker":
        command += ["--strategy", "multiworker"]
        from digitrec.training.distribute import loopback_tf_configs

        envs = [{**os.environ, "TF_CONFIG": tf_config} for tf_config in loopback_tf_configs(2)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for env in envs
    ]
    try:
        outputs = [p.communicate(timeout=1800) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"{strategy} failed: {outputs[0][1][-500:]} {outputs[-1][1][-500:]}")
    summary = json.loads(outputs[0][0])
    return {"wall_s": wall, "train_s": summary["train_seconds"], "test_accuracy": summary["test_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-train", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    job = [
        "--limit-train",
        str(args.limit_train),
        "--limit-test",
        "1000",
        "--epochs",
        str(args.epochs),
        "--no-tensorboard",
        "--seed",
        "1",
        "--no-progress",
    ]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="digitrec-dist-") as tmp:
        for strategy in ("default", "mirrored", "multiworker"):
            runs = [run(strategy, job, Path(tmp) / f"{strategy}-{k}") for k in range(args.repeats)]
            rows[strategy] = {
                "wall_s_median": statistics.median(r["wall_s"] for r in runs),
                "train_s_median": statistics.median(r["train_s"] for r in runs),
                "test_accuracy": runs[0]["test_accuracy"],
                "runs": runs,
            }
            print(
                f"{strategy:12s} wall {rows[strategy]['wall_s_median']:.1f} s  training "
                f"{rows[strategy]['train_s_median']:.1f} s  test accuracy {runs[0]['test_accuracy']:.2%}",
                flush=True,
            )
    result = {
        "benchmark": "distributed",
        "command": " ".join(["python", "-m", "benchmarks.distributed", *sys.argv[1:]]),
        "job": job,
        "machine": machine(),
        "strategies": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distributed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
