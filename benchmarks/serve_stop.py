"""How long Ctrl-C takes to stop a `digitrec serve` that has answered requests and still holds
idle keep-alive connections (issue: it took 5-10 s, silently).

    python -m benchmarks.serve_stop [--workers 2] [--repeat 5]

Prints the median seconds from SIGINT to the process's exit, on loopback only, and writes
benchmarks/results/serve_stop-workersN.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import sys
import time
from pathlib import Path

from benchmarks.machine import machine
from tests.support.serverproc import Server

HERE = Path(__file__).resolve().parent


def once(workers: int, model: str | None) -> tuple[float, str]:
    args = ["--workers", str(workers), *(["--model", model] if model else [])]
    with Server(*args) as server:
        idle = []
        for _ in range(4):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", "/health")
            connection.getresponse().read()
            idle.append(connection)
        start = time.perf_counter()
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
        seconds = time.perf_counter() - start
        said = server.output().strip().splitlines()[-1]
        for connection in idle:
            connection.close()
    return seconds, said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model")
    args = parser.parse_args()
    runs = [once(args.workers, args.model) for _ in range(args.repeat)]
    seconds = [s for s, _ in runs]
    result = {
        "benchmark": "serve_stop",
        "command": " ".join(["python -m benchmarks.serve_stop", *sys.argv[1:]]),
        "machine": machine(),
        "workers": args.workers,
        "seconds": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3),
        "last_line": runs[-1][1],
    }
    (HERE / "results" / f"serve_stop-workers{args.workers}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"Ctrl-C to exit, {args.workers} workers, idle keep-alive connections open: "
        f"median {result['median_seconds']:.2f} s of {seconds}; last line {result['last_line']!r}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
