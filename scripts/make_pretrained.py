"""Train the model that ships inside the package (src/digitrec/pretrained/), or ship a run
already trained with the same command.

    python scripts/make_pretrained.py                 # trains: digitrec train --preset robust --seed 1
    python scripts/make_pretrained.py --from-run DIR  # ships DIR, which that command produced

The shipped model.keras has no optimizer state (about 3.5 MB). Its metadata.json records the
exact command, the config, the data checksum, the measured test accuracy and, when
benchmarks/results/realistic.json was measured on the shipped model, its accuracy on realistic
images (run the script again after `make bench-realistic ARGS="--model src/digitrec/pretrained/model.keras"`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "src" / "digitrec" / "pretrained"
COMMAND = ["digitrec", "train", "--preset", "robust", "--seed", "1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-run", type=Path, help="a run folder made by the command above")
    args = parser.parse_args()

    from digitrec import store

    run = args.from_run
    if run is None:
        run = ROOT / "build" / "pretrained-run"
        subprocess.run([sys.executable, "-m", "digitrec.cli", *COMMAND[1:], "--run-dir", str(run)], check=True)
    config = json.loads((run / "config.json").read_text())
    expected = {"preset": "robust", "seed": 1, "limit_train": None}
    if any(config.get(k) != v for k, v in expected.items()):
        raise SystemExit(f"{run} was not made by `{' '.join(COMMAND)}` (config {config})")
    meta = json.loads((run / "metadata.json").read_text())

    model = store.load_model(run / "model.keras")  # loaded without its optimizer
    TARGET.mkdir(parents=True, exist_ok=True)
    with store.atomic_path(TARGET / "model.keras") as tmp:
        model.save(tmp)
    # The same model for LiteRT: `digitrec predict` answers with it without importing TensorFlow.
    from digitrec.export import export_model

    report = export_model(TARGET / "model.keras", "tflite", out=ROOT / "build" / "pretrained-export", check=True)
    lite = Path(report["exports"]["tflite"]["path"])
    store.write_bytes(TARGET / "model.tflite", lite.read_bytes())
    shipped = {
        "command": " ".join(COMMAND),
        "config": config,
        "dataset": meta["dataset"],
        "test_metrics": meta["test_metrics"],
        "training": meta["training"],
        "versions": meta["versions"],
        "model": {**meta["model"], "files": {"keras": "model.keras", "tflite": "model.tflite"}},
        "tflite_agreement_with_keras": report["exports"]["tflite"]["agreement"],
        "input_shape": meta["input_shape"],
        "class_names": meta["class_names"],
        "preprocessing": meta["preprocessing"],
    }
    realistic = ROOT / "benchmarks" / "results" / "realistic.json"
    if realistic.is_file():
        measured = json.loads(realistic.read_text())
        if Path(measured["model"]).resolve() == (TARGET / "model.keras").resolve():
            shipped["realistic_images"] = {"command": measured["command"], **measured["summary"]}
    store.write_json(TARGET / "metadata.json", shipped)
    size = (TARGET / "model.keras").stat().st_size
    print(f"shipped {run} as {TARGET / 'model.keras'} ({size / 1e6:.1f} MB), "
          f"test accuracy {meta['test_metrics']['accuracy']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
