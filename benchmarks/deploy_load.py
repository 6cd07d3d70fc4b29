"""Replicas behind HAProxy against one replica, on this machine: `web_load`'s 16-client level
through `deploy/haproxy.cfg` in front of two containers of 1 worker each, and straight to one
container of 2 workers (the same two cores either way), alternating; then the same through HAProxy
with one replica killed mid-load. Loopback only; every container and process started is ended.

    python -m benchmarks.deploy_load [--image localhost/digitrec:latest] [--repeat 3]

Needs the image (`make image`, or `make test-deploy` which builds localhost/digitrec:test).
Writes benchmarks/results/deploy_load.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.machine import machine
from benchmarks.web_load import run_level, sample_uploads
from tests.support.containers import Container, haproxy_config, podman, wait_ok
from tests.support.serverproc import free_port

HERE = Path(__file__).resolve().parent


def replicas(image: str, count: int, workers: int) -> tuple[list[Container], list[int]]:
    ports = [free_port() for _ in range(count)]
    started = [Container(image, "serve", "--host", "127.0.0.1", "--port", str(p), "--workers", str(workers),
                         "--keep-alive", "75", "--no-access-log") for p in ports]  # fmt: skip
    for p in ports:
        wait_ok(f"http://127.0.0.1:{p}/readyz")
    return started, ports


def through_haproxy(image: str, uploads, kill_one: bool = False) -> dict:
    started, ports = replicas(image, 2, 1)
    front = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "haproxy.cfg"
        config.write_text(haproxy_config(front, ports))
        proxy = subprocess.Popen(["haproxy", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ok(f"http://127.0.0.1:{front}/readyz")
            run_level(front, uploads, 4, 100, 30)  # warm-up
            killer = None
            if kill_one:
                killer = threading.Timer(1.0, lambda: podman("kill", started[0].name))
                killer.start()
            level = run_level(front, uploads, 16, 2000, 120)
            if killer is not None:
                killer.join()
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
            for c in started:
                c.remove()
    return level


def direct(image: str, uploads) -> dict:
    started, ports = replicas(image, 1, 2)
    try:
        run_level(ports[0], uploads, 4, 100, 30)
        return run_level(ports[0], uploads, 16, 2000, 120)
    finally:
        started[0].remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="localhost/digitrec:latest")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "deploy_load.json")
    args = parser.parse_args()
    uploads = sample_uploads()
    runs: dict[str, list[dict]] = {"haproxy_2x1": [], "direct_1x2": []}
    for _ in range(args.repeat):
        runs["haproxy_2x1"].append(through_haproxy(args.image, uploads))
        runs["direct_1x2"].append(direct(args.image, uploads))
        print({k: v[-1]["requests_per_s"] for k, v in runs.items()}, file=sys.stderr, flush=True)
    killed = through_haproxy(args.image, uploads, kill_one=True)
    medians = {k: statistics.median(r["requests_per_s"] for r in v) for k, v in runs.items()}
    result = {
        "benchmark": "deploy_load",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.deploy_load", *sys.argv[1:]]),
        "machine": machine(),
        "image": args.image,
        "runs": runs,
        "median_requests_per_s": medians,
        "haproxy_vs_direct": round(medians["haproxy_2x1"] / medians["direct_1x2"] - 1, 3),
        "one_replica_killed": killed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_requests_per_s", "haproxy_vs_direct")}))
    print("one replica killed:", json.dumps({k: killed[k] for k in ("requests", "errors", "requests_per_s", "p99_ms")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
