"""Accuracy on realistic images, per kind, with the "no digit" trade-off.

Builds the set of tests/support/realistic.py from MNIST *test* digits and handwriting fonts, runs the
Predictor on the encoded files exactly as `digitrec predict` reads them, and reports:
accuracy per kind of digit image (a "no digit" answer counts as wrong), handwriting fonts (the
outline font on its own: see realistic.OUTLINE_FONTS), low-resolution digits, whole numbers read
exactly, non-digits answered "no digit" per kind (letters, kana and kanji, symbols from fonts
training never reads; blank pages, noise, doodles; and, on their own, the same glyphs written
with a marker as the bold digits are), real digits wrongly answered "no digit", a
sweep of the confidence threshold (also as a chart: the share turned away, digits and
non-digits, against the threshold), and the plain-resize baseline. Writes
benchmarks/results/realistic.json/.md/-threshold.png.

    python -m benchmarks.realistic_accuracy [--model PATH] [--per-kind 100] [--seed 0]
    make bench-realistic
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.machine import machine
from tests.support.realistic import (
    BOLD_NON_DIGIT,
    DIGIT_KINDS,
    HARD_KINDS,
    LOOPS_CLOSED,
    NON_DIGIT_GROUPS,
    make_set,
    missing_fonts,
    other_dataset_samples,
    write_set,
)

HERE = Path(__file__).resolve().parent


THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def share(rows, test) -> float | None:
    return sum(map(test, rows)) / len(rows) if rows else None


def threshold_chart(
    sweep: list[dict],
    chosen: float,
    path: Path,
    before: dict | None = None,
    before_label: str | None = None,
    on: str = "the best guess",
) -> None:
    """Share of digits and of non-digits answered "no digit" against the threshold on `on` (the
    best guess, or the two likeliest digits together); with `before` (another model's
    realistic.json), its curves on the best guess dashed beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    t = [s["min_confidence"] for s in sweep]
    ax.plot(t, [100 * s["non_digits_answered_no_digit"] for s in sweep], "o-", label="non-digits turned away")
    ax.plot(t, [100 * s["digits_answered_no_digit"] for s in sweep], "s-", label='digits answered "no digit"')
    ax.axvline(chosen, color="grey", linestyle=":", label=f"threshold used ({chosen:.2f})")
    if before:
        t0 = [s["min_confidence"] for s in before["threshold_sweep"]]
        name = before_label or Path(before["model"]).parent.name or before["model"]
        name += "" if on == "the best guess" else ", on its best guess"
        ax.plot(t0, [100 * s["non_digits_answered_no_digit"] for s in before["threshold_sweep"]], "o--",
                color="C0", alpha=0.45, label=f"non-digits, {name}")  # fmt: skip
        ax.plot(t0, [100 * s["digits_answered_no_digit"] for s in before["threshold_sweep"]], "s--",
                color="C1", alpha=0.45, label=f"digits, {name}")  # fmt: skip
        chosen0 = before["summary"]["min_confidence"]
        ax.axvline(chosen0, color="grey", linestyle="--", alpha=0.4, label=f"its threshold ({chosen0:.2f})")
    ax.set_xlabel(f"threshold on {on}")
    ax.set_ylabel('% answered "no digit"')
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def naive_array(encoded: bytes) -> np.ndarray:
    """What a plain tutorial does: grayscale, resize to 28x28, scale. No polarity, no centring."""
    import io

    img = Image.open(io.BytesIO(encoded)).convert("L").resize((28, 28))
    return np.asarray(img, np.float32) / 255.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model or run folder (default: the newest run, then the shipped model)")
    parser.add_argument("--per-kind", type=int, default=100, help="digit images per kind")
    parser.add_argument("--numbers", type=int, default=100)
    parser.add_argument("--non-digits", type=int, default=100, help="non-digit images per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--other-dataset",
        type=int,
        default=500,
        help="real 8x8 digits of other writers (scikit-learn's UCI digits) to report on, never to choose by",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--save-set", type=Path, help="also write the images and labels.csv here")
    parser.add_argument("--before", type=Path, help="another model's realistic.json: its curves on the chart too")
    parser.add_argument("--before-label", help="what to call that model on the chart (default: its folder's name)")
    parser.add_argument(
        "--min-confidence", type=float, help="the threshold to answer with (default: the one the model records)"
    )
    args = parser.parse_args()

    from digitrec.data import datasets
    from digitrec.reading.predictor import Predictor

    if missing := missing_fonts():
        print(
            f"realistic_accuracy: {len(missing)} of the held-out fonts are not installed ({', '.join(missing)}): "
            "held-out hands, letters, kana and symbols are left out or fewer (make bench-realistic installs them)",
            file=sys.stderr,
        )
    ds = datasets.load_dataset("mnist")
    t0 = time.perf_counter()
    samples = make_set(ds.x_test, ds.y_test, args.per_kind, args.seed, args.numbers, args.non_digits)
    samples += other_dataset_samples(args.other_dataset, args.seed) if args.other_dataset else []
    build_s = time.perf_counter() - t0
    if args.save_set:
        write_set(samples, args.save_set)
    predictor = Predictor(args.model, min_confidence=args.min_confidence)

    rows = []
    t0 = time.perf_counter()
    for s in samples:
        if s.kind == "number":
            ans = predictor.predict_number(s.encoded)
            rows.append({"kind": s.kind, "label": s.label, "answer": ans.number, "reason": ans.reason})
        else:
            ans = predictor.predict_image(s.encoded)
            rows.append(
                {
                    "kind": s.kind,
                    "label": s.label,
                    "answer": None if ans.digit is None else str(ans.digit),
                    "file_index": len(rows),
                    "confidence": ans.confidence,
                    "pair": float(sum(sorted(ans.probabilities)[-2:])),  # the two likeliest digits
                    "best": str(ans.best_guess),
                    "reason": ans.reason,
                    "glyph": s.glyph,
                    "ink_reason": ans.reason is not None and not ans.reason.startswith(("uncertain", "not a digit")),
                    "naive": str(int(np.argmax(predictor.predict_arrays(naive_array(s.encoded))[0]))),
                }
            )
    predict_s = time.perf_counter() - t0

    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    table = {}
    for kind, rs in by_kind.items():
        n = len(rs)
        if kind.startswith("not_digit"):
            table[kind] = {"n": n, "answered_no_digit": sum(r["answer"] is None for r in rs) / n}
        else:
            entry = {
                "n": n,
                "accuracy": sum(r["answer"] == r["label"] for r in rs) / n,
                "answered_no_digit": sum(r["answer"] is None for r in rs) / n,
            }
            if kind != "number":
                entry["accuracy_without_reject"] = sum(r["best"] == r["label"] for r in rs) / n
                entry["plain_resize_accuracy"] = sum(r["naive"] == r["label"] for r in rs) / n
            table[kind] = entry

    digit_rows = [r for r in rows if r["kind"] in DIGIT_KINDS or r["kind"] in ("font", "outline_font")]
    hard_rows = [r for r in rows if r["kind"] in HARD_KINDS]
    # Every real digit of the set, one at a time: the kinds above, low-resolution and the hard kinds.
    all_digit_rows = digit_rows + hard_rows + [r for r in rows if r["kind"] == "low_resolution"]
    mnist_rows = [r for r in rows if r["kind"] in DIGIT_KINDS]
    non_rows = [r for r in rows if r["kind"].startswith("not_digit") and r["kind"] != BOLD_NON_DIGIT]
    bold_closed = [r for r in by_kind.get("bold", []) if r["glyph"] == LOOPS_CLOSED]
    bold_open = [r for r in by_kind.get("bold", []) if r["glyph"] != LOOPS_CLOSED]
    # The model's doubt as it answers by it: its best guess, or its two likeliest digits together.
    score = "confidence" if predictor.min_pair_confidence is None else "pair"
    sweep = []
    for t in THRESHOLDS:

        def rejected(r, t=t):
            return r["ink_reason"] or r[score] < t

        sweep.append(
            {
                "min_confidence": t,
                "mnist_photo_accuracy": sum((not rejected(r)) and r["best"] == r["label"] for r in mnist_rows)
                / len(mnist_rows),
                "digits_answered_no_digit": sum(rejected(r) for r in digit_rows) / len(digit_rows),
                "non_digits_answered_no_digit": sum(rejected(r) for r in non_rows) / max(1, len(non_rows)),
                "hard_digits_answered_no_digit": share(hard_rows, rejected),
            }
        )
    summary = {
        "mnist_photos_accuracy": sum(r["answer"] == r["label"] for r in mnist_rows) / len(mnist_rows),
        "fonts_accuracy": table.get("font", {}).get("accuracy"),
        "outline_font_accuracy": table.get("outline_font", {}).get("accuracy"),
        "numbers_exact": table.get("number", {}).get("accuracy"),
        "low_resolution_accuracy": table.get("low_resolution", {}).get("accuracy"),
        "non_digits_answered_no_digit": sum(r["answer"] is None for r in non_rows) / max(1, len(non_rows)),
        **{
            f"{group}_answered_no_digit": share(
                [r for r in non_rows if r["kind"] in kinds], lambda r: r["answer"] is None
            )
            for group, kinds in NON_DIGIT_GROUPS.items()
        },
        "bold_non_digits_answered_no_digit": table.get(BOLD_NON_DIGIT, {}).get("answered_no_digit"),
        "digits_answered_no_digit": sum(r["answer"] is None for r in digit_rows) / len(digit_rows),
        **{f"{kind}_accuracy": table.get(kind, {}).get("accuracy") for kind in (*HARD_KINDS, "uci_digits")},
        # Bold digits whose loops the marker filled (an 8 as a blob), and the rest.
        "bold_loops_closed_accuracy": share(bold_closed, lambda r: r["answer"] == r["label"]),
        "bold_loops_open_accuracy": share(bold_open, lambda r: r["answer"] == r["label"]),
        "bold_loops_closed": len(bold_closed),
        "all_digits_answered_no_digit": share(all_digit_rows, lambda r: r["answer"] is None),
        "most_answered_no_digit_in_a_kind": max(
            (
                table[k]["answered_no_digit"]
                for k in table
                if k not in ("number", "uci_digits") and "/" not in k and "outline" not in k
            ),
            default=None,
        ),
        "plain_resize_accuracy": sum(r["naive"] == r["label"] for r in mnist_rows) / len(mnist_rows),
        "min_confidence": predictor.min_confidence,
        "min_pair_confidence": predictor.min_pair_confidence,
        "threshold_on": "the best guess" if score == "confidence" else "the two likeliest digits together",
    }
    import digitrec

    result = {
        "benchmark": "realistic_accuracy",
        "model": predictor.source,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks.realistic_accuracy", *sys.argv[1:]]),
        "machine": machine(),
        "digitrec": digitrec.__version__,
        "images": len(samples),
        "missing_fonts": missing,
        "build_seconds": round(build_s, 1),
        "predict_seconds": round(predict_s, 1),
        "summary": summary,
        "per_kind": table,
        "threshold_sweep": sweep,
        "hard_digits_not_read": [
            {key: r[key] for key in ("kind", "label", "answer", "best", "glyph")}
            | {"confidence": round(r["confidence"], 3)}
            for r in hard_rows
            if r["answer"] != r["label"]
        ],
        "non_digits_answered_as_digits": [
            {"kind": r["kind"], "glyph": r["glyph"], "answer": r["answer"], "confidence": round(r["confidence"], 3)}
            for r in non_rows
            if r["answer"] is not None
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "realistic.json").write_text(json.dumps(result, indent=2) + "\n")

    lines = ['| kind | images | accuracy | answered "no digit" | plain resize |', "|---|---|---|---|---|"]
    for kind, e in table.items():
        acc = f"{e['accuracy']:.1%}" if "accuracy" in e else "-"
        naive = f"{e['plain_resize_accuracy']:.1%}" if "plain_resize_accuracy" in e else "-"
        lines.append(f"| {kind} | {e['n']} | {acc} | {e['answered_no_digit']:.1%} | {naive} |")
    lines += [
        "",
        f"| threshold on {summary['threshold_on']} "
        '| MNIST-photo accuracy | digits answered "no digit" | non-digits answered "no digit" |',
        "|---|---|---|---|",
    ]
    for s in sweep:
        lines.append(
            f"| {s['min_confidence']:.2f} | {s['mnist_photo_accuracy']:.1%} | {s['digits_answered_no_digit']:.1%} "
            f"| {s['non_digits_answered_no_digit']:.1%} |"
        )
    (args.out / "realistic.md").write_text("\n".join(lines) + "\n")
    before = json.loads(args.before.read_text()) if args.before else None
    chosen = predictor.min_confidence if score == "confidence" else predictor.min_pair_confidence
    chart = args.out / "realistic-threshold.png"
    threshold_chart(sweep, chosen, chart, before, args.before_label, summary["threshold_on"])
    print("\n".join(lines))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
