"""One Markdown page from every benchmarks/results/*.json: recipes, time to 99 %, input pipelines,
inference, web service load, strategies. `make bench` ends with it; it only reads what the benchmarks wrote.

    python -m benchmarks.summary            # writes benchmarks/results/summary.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ["seed", "fast", "robust", "best"]


def load(kind: str) -> list[dict]:
    found = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except ValueError:
            continue
        if result.get("benchmark") == kind:
            found.append(result)
    return found


def recipes() -> list[str]:
    rows = load("seed_accuracy")
    rows.sort(key=lambda r: (ORDER.index(r["preset"]) if r["preset"] in ORDER else 99, r.get("recipe", r["preset"])))
    lines = [
        "| recipe | test accuracy, mean (min-max) | seeds | training time (median) | time per epoch | command |",
        "|---|---|---|---|---|---|",
        "| the tutorial (batch 128, constant rate, 5 epochs) | 98.94 % | 1 | not recorded | not recorded | "
        "`digitrec train --batch-size 128 --lr-schedule constant --seed 1` |",
    ]
    for r in rows:
        s = r["summary"]
        spread = f" ({s['test_accuracy_min']:.2%}-{s['test_accuracy_max']:.2%})" if len(r["runs"]) > 1 else ""
        members = r["runs"][0].get("members") or []
        seed = r["runs"][0]["seed"]
        note = (
            f"; members {', '.join(f'{m:.2%}' for m in members)}" + (f" (seed {seed})" if seed is not None else "")
            if members
            else ""
        )
        lines.append(
            f"| `{r.get('recipe', r['preset'])}` | {s['test_accuracy_mean']:.2%}{spread}{note} | {len(r['runs'])} | "
            f"{s['train_seconds_median']:.0f} s | {s['seconds_per_epoch_median']:.1f} s | "
            f"{', '.join(f'`{c}`' for c in commands(r))} |"
        )
    return lines


def commands(result: dict) -> list[str]:
    """The commands that measured a row: the benchmark's, or the trainings' for recorded runs."""
    if "--from-runs" in result["command"]:
        trainings = [r.get("training_command") for r in result["runs"]]
        return list(dict.fromkeys(t for t in trainings if t)) or [result["command"]]
    return [result["command"]]


def time_to_accuracy() -> list[str]:
    lines = []
    for r in load("time_to_accuracy"):
        presets = sorted(r["presets"].items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else 99)
        lines += [
            "Time to a test accuracy (`python -m benchmarks.time_to_accuracy`: training time until the first "
            "of 8 checks per epoch reaches it; the checks' own time left out):",
            "",
            "| recipe | target | time (median) | epochs (median) | seeds that reached it | command |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{name}` | {x['target']:.0%} | "
            + (f"{x['train_seconds_median']:.1f} s | {x['epochs_median']:.2f}" if x["reached"] else "never | -")
            + f" | {x['reached']} of {len(x['seeds'])} | `{x['command']}` |"
            for name, x in presets
        ]
    return lines


def pipelines() -> list[str]:
    lines = []
    for r in load("input_pipeline"):
        lines += [
            f"Input pipelines (`{r['command']}`, batch {r['batch_size']}, one warm epoch, median):",
            "",
            "| model | input | s/epoch |",
            "|---|---|---|",
        ]
        lines += [f"| {row['model']} | {row['input']} | {row['epoch_seconds_median']:.1f} |" for row in r["rows"]]
    return lines


def inference() -> list[str]:
    lines = []
    for r in load("inference"):
        lines += [
            *([""] if lines else []),  # a blank line between two tables
            f"Inference (`{r['command']}`):",
            "",
            "| model | backend | one image p50 | p99 | batches of 256 | cold start | peak memory |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {x['model']} | {x['backend']} | {x['latency_ms_p50']:.2f} ms | {x['latency_ms_p99']:.2f} ms | "
            f"{x['images_per_s']:,.0f}/s | {x['cold_start_s']:.2f} s | {x['peak_memory_mib']:.0f} MiB |"
            for x in r["rows"]
        ]
    return lines


def strategies() -> list[str]:
    lines = []
    for r in load("distributed"):
        lines += [
            f"Strategies (`{r['command']}`, medians):",
            "",
            "| strategy | whole command | training |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {s['wall_s_median']:.1f} s | {s['train_s_median']:.1f} s |"
            for name, s in r["strategies"].items()
        ]
    return lines


def web_load() -> list[str]:
    rows = sorted(load("web_load"), key=lambda r: r.get("workers", 1))
    if not rows:
        return []
    lines = [
        "Web service load (`python -m benchmarks.web_load`: real uploads to `digitrec serve` on loopback, "
        "keep-alive clients on the same machine):",
        "",
        "| workers | clients | requests | requests/s | p50 | p99 | errors | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines += [
            f"| {r.get('workers', 1)} | {x['clients']} | {x['requests']:,} | {x['requests_per_s']:.1f} | "
            f"{x['p50_ms']:.1f} ms | {x['p99_ms']:.1f} ms | {x['errors']} | `{r['command']}` |"
            for x in r["levels"]
        ]
    return lines


def predict_folder() -> list[str]:
    lines = []
    for r in load("predict_folder"):
        one, many = (name for name in r["median_seconds"] if name != "against")  # "1" and N
        line = (
            f"`digitrec predict FOLDER` on {r['images']:,} phone photos (`{r['command']}`, medians of "
            f"{len(r['seconds'][one])}): --jobs {one} {r['median_seconds'][one]:.2f} s, --jobs {many} "
            f"{r['median_seconds'][many]:.2f} s ({r['speedup']:.2f}x, {r['images_per_s'][many]:,.0f} images/s), "
            f"same output: {'yes' if r['same_output'] else 'no'}."
        )
        if against := r.get("against"):
            line += (
                f" One process of {against['ref']}: {r['median_seconds']['against']:.2f} s; --jobs {many} now "
                f"{against['speedup']:.2f}x."
            )
        lines.append(line)
    return lines


def main() -> int:
    machine = next((r.get("machine") for r in load("seed_accuracy") if r.get("machine")), {})
    versions = next((r.get("versions") for r in load("seed_accuracy") if r.get("versions")), {})
    page = [
        "# digitrec benchmarks",
        "",
        f"Machine: {machine.get('cpu') or 'a CPU'}, {machine.get('cpus', '?')} cores, "
        f"{machine.get('platform', '?')}; TensorFlow "
        f"{versions.get('tensorflow', '?')}, Keras {versions.get('keras', '?')}. MNIST test set (10,000 images).",
        "",
        *recipes(),
        "",
    ]
    for section in (time_to_accuracy(), pipelines(), inference(), web_load(), predict_folder(), strategies()):
        if section:
            page += [*section, ""]
    (RESULTS / "summary.md").write_text("\n".join(page))
    print("\n".join(page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
