"""Inference speed per backend: one-image latency, batch throughput, cold start and peak memory.

    python -m benchmarks.inference                       # the shipped model
    python -m benchmarks.inference --model fast=runs/<a fast-preset run>

For each model, both backends the Predictor has: `keras` (the .keras file through a compiled
tf.function) and `litert` (the .tflite beside it, exported first when missing):
- latency: one MNIST test image at a time, 500 calls after 50 of warm-up, p50 and p99;
- throughput: the 10,000 test images in batches of 256, median of 3 passes;
- cold start: `digitrec predict one.png --model …` in a new process, wall time, median of 5;
- peak memory: the maximum resident size of that process (ru_maxrss).
Writes benchmarks/results/inference.json and inference.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent


def model_files(target: str, workdir: Path) -> dict[str, Path]:
    """The .keras and .tflite files of a run folder or model file (exporting the .tflite if needed)."""
    from digitrec import store
    from digitrec.training.export import export_model

    keras_file = store.find_model_file(target)
    if keras_file.suffix == ".tflite":
        keras_file = keras_file.with_suffix(".keras")
    tflite = keras_file.with_suffix(".tflite")
    if not tflite.is_file():
        tflite = keras_file.parent / "export" / "model.tflite"
    if not tflite.is_file():
        tflite = Path(
            export_model(keras_file, "tflite", out=workdir / keras_file.parent.name, check=False)["exports"]["tflite"][
                "path"
            ]
        )
    return {"keras": keras_file, "litert": tflite}


def latency_and_throughput(path: Path, images: np.ndarray) -> dict:
    from digitrec.reading.predictor import Predictor

    predictor = Predictor(path)
    single = [images[i : i + 1] for i in range(550)]
    for x in single[:50]:
        predictor.predict_arrays(x)
    times = []
    for x in single[50:]:
        start = time.perf_counter()
        predictor.predict_arrays(x)
        times.append(time.perf_counter() - start)
    rates = []
    predictor.predict_arrays(images[:256], batch_size=256)
    for _ in range(3):
        start = time.perf_counter()
        predictor.predict_arrays(images, batch_size=256)
        rates.append(len(images) / (time.perf_counter() - start))
    return {
        "backend": predictor.backend,
        "latency_ms_p50": 1000 * float(np.percentile(times, 50)),
        "latency_ms_p99": 1000 * float(np.percentile(times, 99)),
        "images_per_s": statistics.median(rates),
    }


# A small launcher measures the peak memory of `digitrec predict`: a child forked straight from
# this (large) process would count this process's memory too.
_LAUNCH = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); w = time.perf_counter() - t; "
    "print(p.returncode, w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, repr(p.stdout.strip()))"
)


def cold_start(path: Path, image: Path, repeats: int = 5) -> dict:
    walls, peaks = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _LAUNCH,
                sys.executable,
                "-m",
                "digitrec",
                "predict",
                str(image),
                "--model",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        code, wall, peak, answer = out.strip().split(" ", 3)
        if code != "0":
            raise SystemExit(f"digitrec predict failed on {path}")
        walls.append(float(wall))
        peaks.append(int(peak) / 1024)  # KiB on Linux
    return {
        "cold_start_s": statistics.median(walls),
        "peak_memory_mib": statistics.median(peaks),
        "answer": ast.literal_eval(answer),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a model to measure (default: shipped=the model inside the package)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    from digitrec import store
    from digitrec.data import datasets

    targets = [m.split("=", 1) for m in args.model] or [["shipped", str(store.PRETRAINED)]]
    mnist = datasets.load_dataset("mnist")
    images = datasets.scale_images(mnist.x_test)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitrec-inference-") as tmp:
        from PIL import Image

        one = Path(tmp) / "one.png"
        Image.fromarray(255 - mnist.x_test[0].reshape(28, 28)).resize((140, 140)).save(one)  # a 7, dark on light
        for name, target in targets:
            for backend, path in model_files(target, Path(tmp)).items():
                row = {
                    "model": name,
                    "file": str(path),
                    **latency_and_throughput(path, images),
                    **cold_start(path, one),
                }
                assert row["backend"] == backend, row
                rows.append(row)
                print(
                    f"{name:8s} {backend:6s} p50 {row['latency_ms_p50']:.2f} ms  p99 {row['latency_ms_p99']:.2f} ms  "
                    f"{row['images_per_s']:,.0f} images/s  cold start {row['cold_start_s']:.2f} s  "
                    f"peak {row['peak_memory_mib']:.0f} MiB",
                    flush=True,
                )
    import digitrec

    result = {
        "benchmark": "inference",
        "command": " ".join(["python", "-m", "benchmarks.inference", *sys.argv[1:]]),
        "machine": machine(),
        "digitrec": digitrec.__version__,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "inference.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "| model | backend | one image p50 | p99 | batches of 256 | cold start `digitrec predict` | peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['latency_ms_p50']:.2f} ms | {r['latency_ms_p99']:.2f} ms | "
            f"{r['images_per_s']:,.0f} images/s | {r['cold_start_s']:.2f} s | {r['peak_memory_mib']:.0f} MiB |"
        )
    (args.out / "inference.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
