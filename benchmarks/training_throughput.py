"""Training throughput: images per second for each preset in each precision, one after the other
in one run on this machine, with the share of the CPU's peak arithmetic that reaches.

Each row is a real `train_and_evaluate` run (the preset's model, batch, learning rate and
augmentation) on a slice of MNIST; its first epoch (graph tracing, warm-up) is left out and the
median of the others is reported. The peak is an estimate: cores x clock x one fused multiply-add
per cycle (two on Intel's AVX-512 cores) at the widest vector the CPU's flags show (bfloat16: twice
float32's lanes, where the CPU has AVX512_BF16; 1,024 FLOPs per cycle per core where it has AMX
tiles). Writes `benchmarks/results/training_throughput.json` and prints a table.

    python -m benchmarks.training_throughput                       # seed, fast, robust, best
    python -m benchmarks.training_throughput --preset seed --limit-train 6000 --epochs 3
    python -m benchmarks.training_throughput --preset seed --whole-runs 2   # and make run's whole training
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine

HERE = Path(__file__).resolve().parent
# The tutorial's settings, the baseline every speed-up is measured against.
TUTORIAL = {"batch_size": 64, "precision": "float32"}


def epoch_clock():
    """A Keras callback recording each epoch's training time (validation left out)."""
    import keras

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == self.params["steps"]:
                self.seconds.append(time.perf_counter() - self._start)

    return Clock()


def training_flops_per_image(model) -> float:
    """Multiply-adds of the convolutions and dense layers, x2 for FLOPs, x3 for forward and backward."""
    total = 0.0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            h, w, c_out = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            total += 2.0 * h * w * c_out * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            total += 2.0 * layer.input.shape[-1] * layer.units
    return 3.0 * total


def cpu_peak_gflops() -> dict:
    """An estimate of this CPU's peak float32 and bfloat16 GFLOP/s, with how it was estimated."""
    from digitrec.training.precision import cpu_flags

    flags = cpu_flags()
    width = 512 if "avx512f" in flags else 256 if "avx2" in flags else 128
    mhz, vendor = 0.0, ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
            elif line.startswith("vendor_id"):
                vendor = line.split(":")[1].strip()
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Intel's AVX-512 server cores have two 512-bit FMA units; AMD's Zen 4 splits a 512-bit FMA in two.
    fmas = 2 if vendor == "GenuineIntel" and width == 512 else 1
    fp32 = cores * mhz / 1000 * (width // 32) * 2 * fmas
    bf16 = fp32 * 2 if "avx512_bf16" in flags else fp32
    estimate = f"cores x clock x {fmas} fused multiply-add(s) per cycle at the widest vector width"
    if "amx_bf16" in flags:  # the tile unit: 1,024 bfloat16 FLOPs per cycle per core, Intel's figure
        bf16 = cores * mhz / 1000 * 1024
        estimate += "; bfloat16: cores x clock x 1,024 (AMX tiles)"
    return {
        "cores": cores,
        "mhz": mhz,
        "vector_bits": width,
        "vendor": vendor,
        "fma_units": fmas,
        "amx": "amx_bf16" in flags,
        "float32_gflops": round(fp32, 1),
        "bfloat16_gflops": round(bf16, 1),
        "estimate": estimate,
    }


def measure(preset: str, overrides: dict, limit_train: int, epochs: int, seed: int) -> dict:
    from digitrec.training.architectures import build_model
    from digitrec.training.config import resolve_config
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    config = resolve_config(
        preset,
        {
            "epochs": epochs,
            "limit_train": limit_train,
            "limit_test": 500,
            "seed": seed,
            "tensorboard": False,
            **overrides,
        },
    )
    clock = epoch_clock()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_and_evaluate(
            config,
            RunOptions(run_dir=Path(tmp) / "run", progress=False, log=lambda m: None),
            mark_latest=False,
            callbacks=[clock],
        )
    seconds = statistics.median(clock.seconds[1:] or clock.seconds)
    images = result.metadata["dataset"]["train_samples"]
    flops = training_flops_per_image(build_model(config.model, (28, 28, 1), 10))
    return {
        "preset": preset,
        "model": config.model,
        "batch_size": config.batch_size,
        "augment": config.augment,
        "precision": result.metadata["precision"],
        "images_per_second": round(images / seconds, 1),
        "epoch_seconds": [round(s, 2) for s in clock.seconds],
        "mflops_per_image": round(flops / 1e6, 1),
        "gflops": round(images / seconds * flops / 1e9, 1),
    }


def whole_runs(rounds: int) -> dict:
    """`make run`'s training as a user runs it (`digitrec train`, the defaults: all the data, every
    epoch, the non-digits) against the same with the tutorial's settings, alternating, `rounds`
    times each; the seconds each run printed, and the ratio of the medians."""
    digitrec = str(Path(sys.executable).with_name("digitrec"))
    tutorial = [f"--{key.replace('_', '-')}={value}" for key, value in TUTORIAL.items()]
    settings = {"defaults": [], "tutorial": tutorial}
    runs: dict[str, list[dict]] = {label: [] for label in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            for label, flags in settings.items():
                folder = Path(tmp) / f"{label}-{i}"
                command = [digitrec, "train", "--no-progress", "--runs-root", tmp, "--run-dir", str(folder), *flags]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                meta = json.loads((folder / "metadata.json").read_text())
                run = {"seconds": meta["training"]["seconds"], "test_accuracy": meta["test_metrics"]["accuracy"]}
                runs[label].append(run)
                print(f"{label:<9} round {i + 1}: {run['seconds']:.1f} s, test accuracy {run['test_accuracy']:.2%}")
    medians = {label: statistics.median(r["seconds"] for r in rows) for label, rows in runs.items()}
    return {
        "commands": {label: " ".join(["digitrec train", *flags]) for label, flags in settings.items()},
        "runs": runs,
        "median_seconds": medians,
        "speedup": round(medians["tutorial"] / medians["defaults"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["seed", "fast", "robust", "best"])
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--limit-train", type=int, default=6000, help="images per epoch (default: 6000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per row; the first is left out (default: 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-tutorial", action="store_true", help="skip the tutorial's baseline row")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "training_throughput.json")
    parser.add_argument(
        "--whole-runs",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also time make run's whole training against the tutorial's settings, alternating, ROUNDS times each",
    )
    args = parser.parse_args(argv)

    from digitrec.training.precision import native_bfloat16

    native = native_bfloat16()
    peak = cpu_peak_gflops()
    rows = []
    plan = [] if args.no_tutorial else [("seed", "tutorial", dict(TUTORIAL))]
    plan += [(p, p, {"precision": precision}) for p in args.preset for precision in args.precision]
    for preset, label, overrides in plan:
        row = {"label": label, **measure(preset, overrides, args.limit_train, args.epochs, args.seed)}
        used = row["precision"]["used"]
        row["share_of_peak"] = round(row["gflops"] / peak[f"{used}_gflops"], 3) if peak["mhz"] else None
        rows.append(row)
        print(
            f"{label:<9} {used:<9} batch {row['batch_size']:<4} {row['images_per_second']:>8,.0f} images/s  "
            f"{row['gflops']:6.1f} GFLOP/s  ({row['share_of_peak'] or 0:.0%} of the estimated peak)",
            flush=True,
        )
    base = rows[0]["images_per_second"] if not args.no_tutorial else None
    result = {
        "benchmark": "training_throughput",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python", "-m", "benchmarks.training_throughput", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(native_bfloat16=native, peak=peak),
        "limit_train": args.limit_train,
        "epochs": args.epochs,
        "rows": rows,
        "speedup_over_tutorial": {
            r["label"] + "/" + r["precision"]["used"]: round(r["images_per_second"] / base, 2) for r in rows[1:]
        }
        if base
        else {},
    }
    if args.whole_runs:
        result["whole_runs"] = whole_runs(args.whole_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"native bfloat16: {native or 'no'}; peak estimate {peak['float32_gflops']} GFLOP/s float32, "
        f"{peak['bfloat16_gflops']} bfloat16 "
        f"({peak['cores']} cores at {peak['mhz']:.0f} MHz, {peak['vector_bits']}-bit)"
    )
    for label, ratio in result["speedup_over_tutorial"].items():
        print(f"  {label}: {ratio:.2f}x the tutorial's settings")
    if args.whole_runs:
        whole = result["whole_runs"]
        print(
            f"make run's training, medians of {args.whole_runs}: {whole['median_seconds']['defaults']:.1f} s "
            f"against {whole['median_seconds']['tutorial']:.1f} s with the tutorial's settings: {whole['speedup']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
