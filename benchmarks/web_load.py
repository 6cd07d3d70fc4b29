"""Load test of `digitrec serve` on loopback, and the README screenshot of its drawing page.

Starts a real server on 127.0.0.1, then for each concurrency level sends a bounded number of
real image uploads (PNG drawings like the page sends, and JPEG photos) from that many keep-alive
connections (one thread, one event loop), within a bounded time: multipart forms, or with `--raw`
the image's bytes as the body. Reports requests per second, p50/p99 latency, errors, and the CPU
time per request of the front process, of the workers together (from /proc) and of the load
generator itself. Only loopback is ever contacted.

    python -m benchmarks.web_load [--model PATH] [--requests 2000] [--clients 1 4 16 32] [--raw]
    python -m benchmarks.web_load --screenshot docs/images/web.png
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import socket
import sys
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
    """`requests` uploads from `clients` keep-alive connections at once (fewer if `time_limit`
    seconds pass first): requests/s, latency, errors and wrong answers. One thread and one event
    loop drive every connection, so that the load generator takes as little as it can of the CPU
    the service runs on (its share is `load_generator_cpu_ms_per_request`)."""
    try:
        import uvloop

        return uvloop.run(_level(port, uploads, clients, requests, time_limit))
    except ImportError:  # pragma: no cover - the [web] extra installs uvloop
        return asyncio.run(_level(port, uploads, clients, requests, time_limit))


async def _level(port: int, uploads, clients: int, requests: int, time_limit: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    wrong = [0]
    left = [requests]
    messages = [(_request(port, body, ctype), label) for body, ctype, label in uploads]
    deadline = time.monotonic() + time_limit

    async def client(seed: int) -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        i = seed
        while left[0] > 0 and time.monotonic() < deadline:
            left[0] -= 1
            message, label = messages[i % len(messages)]
            i += clients
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.wait_for(_connect(port), 30)
                reader, writer = connection
                status, payload, close = await asyncio.wait_for(_exchange(reader, writer, message), 30)
                ok = status == 200 and b'"probabilities"' in payload
                problem = None if ok else f"HTTP {status}"
                wrong[0] += ok and json.loads(payload).get("digit") != label
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                problem, close = type(exc).__name__, True
            latencies.append(time.perf_counter() - start)
            if problem:
                errors.append(problem)
            if close and connection is not None:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - start
    lat = np.array(latencies or [0.0]) * 1000
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


def _request(port: int, body: bytes, ctype: str) -> bytes:
    head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as browsers do
    return reader, writer


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> tuple[int, bytes, bool]:
    """Send one request; its response's status, body, and whether the server closes the connection."""
    writer.write(message)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line))
    if "content-length" not in fields:  # no framing this client reads: the connection ends here
        raise ValueError("a response without Content-Length")
    payload = await reader.readexactly(int(fields["content-length"]))
    return status, payload, fields.get("connection", "").lower() == "close"


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the front process and of its worker processes together. (A worker
    replaced during a level takes its time with it: the levels here kill none.)"""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in child_pids(pid))


CPU_PARTS = ("front", "workers", "load_generator")


def measured_level(server: Server, uploads, clients: int, requests: int, time_limit: float) -> dict:
    """`run_level` against a running `Server`, with the CPU time per request of its front
    process, of its workers together and of this load generator (`PART_cpu_ms_per_request`)."""
    before = (*_cpu(server.process.pid), time.process_time())
    level = run_level(server.port, uploads, clients, requests, time_limit)
    after = (*_cpu(server.process.pid), time.process_time())
    served = max(1, level["requests"])
    for part, start, end in zip(CPU_PARTS, before, after):
        level[f"{part}_cpu_ms_per_request"] = round(1000 * (end - start) / served, 3)
    return level


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
            levels.append(measured_level(server, uploads, clients, args.requests, args.time_limit))
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
        "| clients | requests | req/s | p50 ms | p99 ms | errors | wrong | CPU ms per request, front + workers "
        "| the load generator's |\n|---|---|---|---|---|---|---|---|---|"
    )
    for level in levels:
        front, workers = level["front_cpu_ms_per_request"], level["workers_cpu_ms_per_request"]
        own = level["load_generator_cpu_ms_per_request"]
        print(
            f"| {level['clients']} | {level['requests']} | {level['requests_per_s']} | {level['p50_ms']} "
            f"| {level['p99_ms']} | {level['errors']} | {level['wrong_share']:.1%} "
            f"| {front:.2f} + {workers:.2f} = {front + workers:.2f} | {own:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
