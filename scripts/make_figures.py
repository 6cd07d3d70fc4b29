"""Redraw every picture the README and docs show, from the shipped model (`make figures`).

    python scripts/make_figures.py [--only NAME ...] [--skip-screens]

Each figure is made the way a user makes it, by the real command, into a scratch folder, then
copied over docs/images/NAME.png whole:

    training_curves, confusion_matrix, misclassified, test-map   digitrec evaluate (the shipped model;
                                                                 its curves from its metadata)
    explain-7        digitrec explain docs/samples/photo-7.jpg
    predict-steps    digitrec predict docs/samples/photo-7.jpg --show-steps
    random-test      digitrec predict --random 30 --seed 7
    not-a-digit      the chart of `make bench-realistic` on the shipped model (benchmarks/results)
    gui, gui-inside  the app on Xvfb, drawn with real mouse strokes (benchmarks.gui_latency)
    web              the drawing page in Chromium (benchmarks.web_load)

`--skip-screens` leaves the three screenshots, which need Xvfb and Chromium.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
SHIPPED = ROOT / "src" / "digitrec" / "pretrained"
PHOTO = ROOT / "docs" / "samples" / "photo-7.jpg"
SCREENS = ("gui", "gui-inside", "web")


def digitrec(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "digitrec", *args], check=True, cwd=ROOT)


def module(name: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", name, *args], check=True, cwd=ROOT)


def make(name: str, scratch: Path) -> Path:
    """Draw one figure into `scratch`; returns the file."""
    tflite = str(SHIPPED / "model.tflite")
    if name in ("training_curves", "confusion_matrix", "misclassified", "test-map"):
        folder = scratch / "evaluate"
        if not folder.is_dir():
            digitrec("evaluate", "--model", tflite, "--out", str(folder))
        return folder / ("test_map.png" if name == "test-map" else f"{name}.png")
    if name == "explain-7":
        digitrec("explain", str(PHOTO), "--model", tflite, "--out", str(scratch))
        return scratch / f"{PHOTO.stem}-explain.png"
    if name == "predict-steps":
        digitrec("predict", str(PHOTO), "--model", tflite, "--show-steps", str(scratch))
        return scratch / f"{PHOTO.stem}-steps.png"
    if name == "random-test":
        digitrec("predict", "--random", "30", "--seed", "7", "--model", tflite, "--grid", str(scratch / "random.png"))
        return scratch / "random.png"
    if name == "not-a-digit":
        measured = json.loads((ROOT / "benchmarks" / "results" / "realistic.json").read_text())
        if Path(measured["model"]).resolve() != (SHIPPED / "model.tflite").resolve():
            raise SystemExit("benchmarks/results/realistic.json is not the shipped model's: run make bench-realistic")
        return ROOT / "benchmarks" / "results" / "realistic-threshold.png"
    if name in ("gui", "gui-inside"):
        shot = scratch / "gui.png", scratch / "gui-inside.png"
        if not shot[0].is_file():
            screens = ["--screenshot", str(shot[0]), "--inside-screenshot", str(shot[1])]
            module("benchmarks.gui_latency", "--model", tflite, "--launches", "1", "--strokes", "2", *screens,
                   "--out", str(scratch))  # fmt: skip
        return shot[name == "gui-inside"]
    if name == "web":
        module("benchmarks.web_load", "--model", tflite, "--requests", "20", "--clients", "1", "--screenshot",
               str(scratch / "web.png"), "--out", str(scratch))  # fmt: skip
        return scratch / "web.png"
    raise SystemExit(f"no figure called {name}")


FIGURES = ("training_curves", "confusion_matrix", "misclassified", "test-map", "explain-7", "predict-steps",
           "random-test", "not-a-digit", "gui", "gui-inside", "web")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=FIGURES, help="just these figures")
    parser.add_argument("--skip-screens", action="store_true", help="not the app's and the page's screenshots")
    args = parser.parse_args()
    names = [n for n in (args.only or FIGURES) if not (args.skip_screens and n in SCREENS)]
    with tempfile.TemporaryDirectory(prefix="digitrec-figures-") as tmp:
        for name in names:
            made = make(name, Path(tmp))
            target = IMAGES / f"{name}.png"
            partial = target.with_suffix(".png.part")
            shutil.copyfile(made, partial)
            partial.replace(target)
            print(f"{target.relative_to(ROOT)}  <- {made.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
