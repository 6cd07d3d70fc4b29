"""Load test of `digitrec serve` on loopback, and the README screenshot of its drawing page.

Starts a real server on 127.0.0.1, then for each concurrency level sends a bounded number of
real image uploads (PNG drawings like the page sends, and JPEG photos) from that many client
threads over keep-alive connections, within a bounded time: multipart forms, or with `--raw` the
image's bytes as the body. Reports requests per second, p50/p99 latency, errors, and the CPU time
per request of the front process and of the workers together (from /proc). Only loopback is ever
contacted.

    python -m benchmarks.web_load [--model PATH] [--requests 2000] [--clients 1 4 16 32] [--raw]
    python -m benchmarks.web_load --screenshot docs/images/web.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from tests.support.serverproc import Server, child_pids, cpu_seconds, launch_chromium, multipart

HERE = Path(__file__).resolve().parent


def sample_uploads(count: int = 16, raw: bool = False) -> list[tuple[bytes, str, int]]:
    """Canvas-like PNG drawings of a 7 (280x280) and phone-photo JPEGs of MNIST test digits:
    (body, content type, the right digit); a multipart form, or with `raw` the image's bytes."""

    def body(name: str, mime: str, data: bytes) -> tuple[bytes, str]:
        return (data, mime) if raw else multipart([(name, mime, data)])

    from digitrec.data import datasets
    from tests.support.helpers import canvas_seven
    from tests.support.realistic import digit_sample

    uploads = []
    rng = np.random.default_rng(0)
    for k in range(count // 2):
        x0 = 80 + int(rng.integers(0, 80))
        image = canvas_seven([(x0, 50), (x0 + 90, 50), (x0 + 30, 240)], 18)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        uploads.append((*body(f"draw{k}.png", "image/png", buf.getvalue()), 7))
    ds = datasets.load_dataset("mnist")
    for k in range(count - count // 2):
        s = digit_sample(ds.x_test[k, ..., 0], int(ds.y_test[k]), "phone_photo", rng)
        uploads.append((*body(f"photo{k}.jpg", "image/jpeg", s.encoded), int(ds.y_test[k])))
    return uploads


def run_level(port: int, uploads, clients: int, requests: int, time_limit: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    wrong = [0]
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + time_limit

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as browsers and load tools do
        return conn

    def worker(seed: int):
        conn = connect()
        i = seed
        while time.monotonic() < deadline:
            with lock:
                if next(counter, None) is None:
                    break
            body, ctype, label = uploads[i % len(uploads)]
            i += clients
            start = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=body, headers={"Content-Type": ctype})
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200 and b'"probabilities"' in payload
                problem = None if ok else f"HTTP {response.status}"
                missed = ok and json.loads(payload).get("digit") != label
            except (OSError, http.client.HTTPException) as exc:
                problem, missed = type(exc).__name__, False
                conn.close()
                conn = connect()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if problem:
                    errors.append(problem)
                wrong[0] += missed
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "wrong_answers": wrong[0],
        "wrong_share": round(wrong[0] / max(1, len(latencies)), 4),
    }


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the front process and of its worker processes together. (A worker
    replaced during a level takes its time with it: the levels here kill none.)"""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in child_pids(pid))


def screenshot(url: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 660, "height": 560})
        page.goto(url + "/")
        box = page.locator("#pad").bounding_box()
        for stroke in ([(60, 50), (220, 50), (200, 80), (120, 250)], [(95, 150), (190, 150)]):
            page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
            page.mouse.down()
            for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
                for t in range(1, 11):
                    page.mouse.move(box["x"] + x0 + (x1 - x0) * t / 10, box["y"] + y0 + (y1 - y0) * t / 10)
            page.mouse.up()
        page.wait_for_function("document.getElementById('answer').textContent === '7'", timeout=20000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per level, at most")
    parser.add_argument("--raw", action="store_true", help="send each image's bytes as the body, not a form")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", help="the result file's name, without .json (default: by worker count)")
    parser.add_argument("serve_args", nargs="*", help="more `digitrec serve` flags, after --")
    args = parser.parse_args()

    uploads = sample_uploads(raw=args.raw)
    with Server(*(["--model", args.model] if args.model else []), *args.serve_args) as server:
        if args.screenshot:
            screenshot(server.url, args.screenshot)
        run_level(server.port, uploads, 4, 100, 30)  # warm-up
        levels = []
        for clients in args.clients:
            front_cpu, workers_cpu = _cpu(server.process.pid)
            level = run_level(server.port, uploads, clients, args.requests, args.time_limit)
            front_after, workers_after = _cpu(server.process.pid)
            served = max(1, level["requests"])
            level["front_cpu_ms_per_request"] = round(1000 * (front_after - front_cpu) / served, 3)
            level["workers_cpu_ms_per_request"] = round(1000 * (workers_after - workers_cpu) / served, 3)
            levels.append(level)
            print(json.dumps(levels[-1]), file=sys.stderr, flush=True)
        alive = server.alive()
    workers = (
        args.serve_args[args.serve_args.index("--workers") + 1]
        if "--workers" in args.serve_args
        else str(os.cpu_count() or 1)
    )  # serve's default: one per core
    result = {
        "benchmark": "web_load",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks.web_load", *sys.argv[1:]]),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "workers": int(workers),
        "uploads": "raw bodies" if args.raw else "multipart forms",
        "server_alive_after": alive,
        "levels": levels,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "web_load.json" if workers == "1" else f"web_load-{workers}workers.json"
    if args.name:
        name = f"{args.name}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| clients | requests | req/s | p50 ms | p99 ms | errors | wrong | CPU ms per request, front + workers |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    for level in levels:
        front, workers = level["front_cpu_ms_per_request"], level["workers_cpu_ms_per_request"]
        print(
            f"| {level['clients']} | {level['requests']} | {level['requests_per_s']} | {level['p50_ms']} "
            f"| {level['p99_ms']} | {level['errors']} | {level['wrong_share']:.1%} "
            f"| {front:.2f} + {workers:.2f} = {front + workers:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
