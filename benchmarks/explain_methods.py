"""The attribution methods of `digitrec explain`, measured against each other on one model, and
the command's time as a whole process.

For 4 drawn digits and 20 MNIST test digits: the share of each map on the ink (median and
lowest), the sanity check of Adebayo et al. (2018) (rank correlation over the ink pixels between
the map of the trained model and that of a copy with fresh random weights, on 8 images: low means
the map depends on what the model learned), and the time per image. Occlusion runs on the
model's LiteRT file (as every front end does), the gradient methods on its Keras file. Then
`digitrec explain IMAGE --json` as a whole process, median of 5.

    python -m benchmarks.explain_methods [--model src/digitrec/pretrained]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from tests.support.helpers import draw_digit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "src" / "digitrec" / "pretrained"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    import keras
    from scipy.stats import spearmanr

    from digitrec.data import datasets
    from digitrec.reading import explain
    from digitrec.reading.preprocess import to_mnist_array

    network, name = explain.network_for(args.model)
    model, _ = explain.keras_model_for(args.model)
    fresh = keras.models.clone_model(model)  # the same layers, random weights
    mnist = datasets.load_dataset("mnist")
    images = [to_mnist_array(draw_digit(d, size=(200, 260))) for d in "1704"]
    images += [mnist.x_test[i].reshape(28, 28) / 255.0 for i in range(20)]
    rows = []
    for method, trained, scrambled in (
        ("occlusion", network, fresh),
        ("integrated gradients", model, fresh),
        ("gradient x input", model, fresh),
    ):
        explain.explain(trained, images[0], method=method)  # compiled and warm
        shares, correlations, start = [], [], time.perf_counter()
        for k, image in enumerate(images):
            result = explain.explain(trained, image, method=method)
            shares.append(explain.ink_share(result))
            if k < 8:
                other = explain.explain(scrambled, image, digit=result.digit, method=method).attribution
                ink = image > 0.2
                correlations.append(float(spearmanr(result.attribution[ink], other[ink]).correlation))
        rows.append(
            {
                "method": method,
                "runs_on": "LiteRT" if trained is network else "Keras",
                "ink_share_median": round(float(np.median(shares)), 3),
                "ink_share_lowest": round(float(np.min(shares)), 3),
                "rank_correlation_with_random_weights": [round(min(correlations), 2), round(max(correlations), 2)],
                "seconds_per_image": round((time.perf_counter() - start) / len(images), 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    sample = ROOT / "docs" / "samples" / "photo-7.jpg"
    command = [str(Path(sys.executable).parent / "digitrec"), "explain", str(sample), "--model", args.model]
    whole = []
    with tempfile.TemporaryDirectory() as figures:
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([*command, "--json", "--out", figures], check=True, capture_output=True)
            whole.append(time.perf_counter() - start)
    result = {
        "benchmark": "explain_methods",
        "command": " ".join(["python", "-m", "benchmarks.explain_methods", *sys.argv[1:]]),
        "machine": machine(),
        "model": name,
        "methods": rows,
        "explain_whole_process_s_median_of_5": round(statistics.median(whole), 2),
        "explain_whole_process_s": [round(w, 2) for w in whole],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "explain_methods.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "methods"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
