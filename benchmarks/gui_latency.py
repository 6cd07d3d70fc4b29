"""How fast the drawing app is, measured on a virtual screen, and its README screenshot.

- launch to window: from starting `digitrec gui` to its window existing (xdotool sees it);
- launch to usable: until the model is loaded and the title says "draw a digit";
- stroke end to answer: from the mouse button's release (xdotool returns) to the new answer in
  the window title (polled every 2 ms; includes xdotool's own round trip);
- stroke end to Inside view: the same, to the "Inside" window (key i: attribution map and feature
  maps) showing the new drawing's explanation (its title says "why D?").

    python -m benchmarks.gui_latency [--model PATH] [--launches 5] [--strokes 20] [--screenshot docs/images/gui.png]
        [--inside-screenshot docs/images/gui-inside.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.machine import machine
from tests.support.xdriver import XSession, line, polyline

HERE = Path(__file__).resolve().parent


def inside_updates(x: XSession, shapes, strokes: int, screenshot: Path | None) -> list[float]:
    """Open the Inside window and time, per stroke, its update to the new drawing."""

    def inside_title(predicate, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(x.window_title("^inside the network")):
            if time.monotonic() > deadline:
                raise TimeoutError("the Inside window did not update")
            time.sleep(0.002)

    x.key("Escape")
    x.key("i")
    inside_title(lambda t: t.endswith("draw a digit"), timeout=120)
    times = []
    for i in range(strokes):
        x.key("Escape")
        inside_title(lambda t: t.endswith("draw a digit"))
        x.drag(shapes[i % 2])
        released = time.perf_counter()
        inside_title(lambda t: "why" in t)
        times.append(time.perf_counter() - released)
    if screenshot:
        time.sleep(0.3)
        x.screenshot(screenshot, box=(0, 0, 1000, 768))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--inside-screenshot", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []

    window, usable, answer, inside = [], [], [], []
    for k in range(args.launches):
        with XSession() as x:
            start = time.perf_counter()
            x.launch_gui(*model)
            while x.window() is None:
                time.sleep(0.005)
            window.append(time.perf_counter() - start)
            x.wait_title(lambda t: t.endswith("draw a digit"), timeout=120, poll=0.005)
            usable.append(time.perf_counter() - start)
            if k == 0:
                shapes = [line((140, 40), (135, 240)), polyline((60, 50), (220, 50), (120, 250))]
                for i in range(args.strokes):
                    x.key("Escape")
                    x.wait_title(lambda t: t.endswith("draw a digit"), timeout=10)
                    x.drag(shapes[i % 2])
                    released = time.perf_counter()
                    x.wait_title(lambda t: not t.endswith("draw a digit"), timeout=10, poll=0.002)
                    answer.append(time.perf_counter() - released)
                if args.screenshot:
                    x.key("Escape")
                    x.key("bracketright")
                    x.drag(polyline((55, 45), (225, 45), (200, 80), (120, 255)))
                    x.drag(line((95, 150), (190, 150)))
                    x.wait_title(lambda t: "— 7" in t, timeout=10)
                    time.sleep(0.3)
                    x.screenshot(args.screenshot)
                inside = inside_updates(x, shapes, args.strokes, args.inside_screenshot)
            print(f"launch {k + 1}: window {window[-1]:.2f} s, usable {usable[-1]:.2f} s", file=sys.stderr, flush=True)

    result = {
        "benchmark": "gui_latency",
        "command": " ".join(["python", "-m", "benchmarks.gui_latency", *sys.argv[1:]]),
        "machine": machine(),
        "launch_to_window_s_median": statistics.median(window),
        "launch_to_usable_s_median": statistics.median(usable),
        "stroke_end_to_answer_ms_median": 1000 * statistics.median(answer) if answer else None,
        "stroke_end_to_answer_ms_max": 1000 * max(answer) if answer else None,
        "stroke_end_to_inside_view_ms_median": 1000 * statistics.median(inside) if inside else None,
        "stroke_end_to_inside_view_ms_max": 1000 * max(inside) if inside else None,
        "launches": window and [{"window_s": w, "usable_s": u} for w, u in zip(window, usable)],
        "answers_ms": [1000 * a for a in answer],
        "inside_ms": [1000 * a for a in inside],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gui_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("launches", "answers_ms", "inside_ms")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
