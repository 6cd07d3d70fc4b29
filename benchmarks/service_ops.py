"""The service in production, measured on loopback: faults, a burst, a drain, the event loop
during a large upload, and the throughput all of it costs.

    python -m benchmarks.service_ops [--model PATH] [--only faults burst drain upload throughput]
        [--before COMMIT]

- faults: 16 clients post 6,000 phone photos to `--workers 2 --job-timeout 2` while one worker
  is SIGKILLed three times and another stopped (SIGSTOP) for 10 s: failed requests, the slowest,
  the pool afterwards and what /metrics counted.
- burst: 256 clients for 15 s on the defaults, each waiting as a 503's Retry-After says: every
  answer 200 or 503 with Retry-After, no reset or time-out, p99 of the answered, the front's
  memory before and after.
- flood (not in the default set): the burst with clients that ignore Retry-After and ask again
  at once.
- drain: SIGTERM under 16 clients: every request sent before it is answered 200, the exit time,
  workers left behind.
- upload: /livez latency while 10 MiB bodies are posted back to back: JSON of small numbers,
  JSON of one long string, a multipart upload.
- throughput: `benchmarks.web_load`'s 16-client level, alternating runs of this tree and of
  `--before` (a commit, checked out in a temporary worktree), medians of 5 each: requests/s, and
  the CPU per request of the front, the workers and the load generator.

Only 127.0.0.1 is contacted; every loop is bounded and every process started is ended.
Writes benchmarks/results/service_ops.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.web_load import CPU_PARTS, measured_level, run_level, sample_uploads
from tests.support.serverproc import Server, child_pids, multipart, process_state

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _metrics(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + (json.dumps(sample.labels, sort_keys=True) if sample.labels else "")
            out[key] = sample.value
    return out


def photos(count: int = 64) -> list[tuple[bytes, str]]:
    """Phone-photo JPEGs of MNIST test digits, as multipart bodies."""
    return [(body, ctype) for body, ctype, _ in sample_uploads(2 * count)[count:]]


class Clients:
    """`n` client threads posting `bodies` over keep-alive connections until `total` requests
    are sent or `stop` is set; each request's send time, status, latency and error are kept. A
    503 with Retry-After makes its client wait that long, as a well-behaved client does."""

    def __init__(self, port: int, bodies, n: int, total: int, timeout: float = 30.0, patient: bool = True):
        self.port, self.bodies, self.timeout, self.patient = port, bodies, timeout, patient
        self.results: list[dict] = []
        self.stop = threading.Event()
        self._left = iter(range(total))
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(n)]

    def start(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout: float = 300.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return self.results

    def _run(self, k: int) -> None:
        conn = None
        i = k
        while not self.stop.is_set():
            with self._lock:
                if next(self._left, None) is None:
                    break
            body, ctype = self.bodies[i % len(self.bodies)]
            i += len(self.threads)
            entry: dict = {"status": None, "error": None, "retry_after": None}
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                conn.request("POST", "/predict", body=body, headers={"Content-Type": ctype})
                entry["sent"] = time.monotonic()
                response = conn.getresponse()
                response.read()
                entry["status"], entry["retry_after"] = response.status, response.getheader("Retry-After")
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                entry["error"] = type(exc).__name__
                entry.setdefault("sent", None)
                if conn is not None:
                    conn.close()
                conn = None
                if self.stop.is_set():
                    break
            entry["seconds"] = time.perf_counter() - start
            with self._lock:
                self.results.append(entry)
            if self.patient and entry["status"] == 503 and entry["retry_after"]:  # a well-behaved client waits
                self.stop.wait(float(entry["retry_after"]))
        if conn is not None:
            conn.close()


def faults(model: list[str]) -> dict:
    bodies = photos()
    with Server(*model, "--workers", "2", "--job-timeout", "2", "--no-access-log") as server:
        clients = Clients(server.port, bodies, 16, 6000).start()
        events = []
        time.sleep(1.0)
        stopped = child_pids(server.process.pid)[-1]
        os.kill(stopped, signal.SIGSTOP)
        events.append(("SIGSTOP", stopped, round(time.monotonic(), 2)))
        stop_until = time.monotonic() + 10
        for _ in range(3):
            time.sleep(2.0)
            alive = [
                p for p in child_pids(server.process.pid) if p != stopped and process_state(p) not in ("T", "Z", "gone")
            ]
            if alive:
                os.kill(alive[0], signal.SIGKILL)
                events.append(("SIGKILL", alive[0], round(time.monotonic(), 2)))
        time.sleep(max(0.0, stop_until - time.monotonic()))
        if process_state(stopped) == "T":  # still stopped (the pool kills it when it times out a job)
            os.kill(stopped, signal.SIGCONT)
        results = clients.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            numbers = _metrics(server.url)
            if numbers["digitrec_workers_ready"] == 2:
                break
            time.sleep(0.2)
        workers_after = [p for p in child_pids(server.process.pid) if process_state(p) not in ("Z", "gone")]
    failed = [r for r in results if r["status"] != 200]
    seconds = [r["seconds"] for r in results]
    histogram = {k: v for k, v in numbers.items() if k.startswith("digitrec_request_duration_seconds_bucket")}
    return {
        "requests": len(results),
        "failed": len(failed),
        "failed_kinds": sorted({str(r["status"] or r["error"]) for r in failed}),
        "slowest_s": round(max(seconds), 2),
        "p99_ms": round(float(np.percentile(seconds, 99)) * 1000, 1),
        "events": events,
        "workers_after": len(workers_after),
        "workers_ready_after": numbers["digitrec_workers_ready"],
        "restarts": numbers["digitrec_worker_restarts_total"],
        "deaths": numbers["digitrec_worker_deaths_total"],
        "timeouts": numbers["digitrec_job_timeouts_total"],
        "retries": numbers["digitrec_job_retries_total"],
        "latency_histogram_buckets": len(histogram),
    }


def burst(model: list[str], clients: int = 256, seconds: float = 15.0, patient: bool = True) -> dict:
    bodies = photos()
    with Server(*model, "--no-access-log") as server:
        run_level(server.port, sample_uploads(), 4, 100, 30)  # warm-up
        before = _rss_mb(server.process.pid)
        crowd = Clients(server.port, bodies, clients, 10**6, timeout=30, patient=patient).start()
        rss = []
        for _ in range(int(seconds)):  # the front's memory, once a second
            time.sleep(1.0)
            rss.append(round(_rss_mb(server.process.pid), 1))
        crowd.stop.set()
        results = crowd.join(timeout=120)
        after = _rss_mb(server.process.pid)
        numbers = _metrics(server.url)
    statuses: dict[str, int] = {}
    for r in results:
        key = str(r["status"] or r["error"])
        statuses[key] = statuses.get(key, 0) + 1
    answered = [r["seconds"] for r in results if r["status"] == 200]
    busy = [r for r in results if r["status"] == 503]
    return {
        "clients": clients,
        "seconds": seconds,
        "statuses": statuses,
        "answered_per_s": round(len(answered) / seconds, 1),
        "p50_ms": round(float(np.percentile(answered, 50)) * 1000, 1),
        "p99_ms": round(float(np.percentile(answered, 99)) * 1000, 1),
        "all_503_have_retry_after": all(r["retry_after"] == "1" for r in busy),
        "front_rss_mb_before": round(before, 1),
        "front_rss_mb_each_second": rss,
        "front_rss_mb_after": round(after, 1),
        "rejected": numbers["digitrec_rejected_total"],
    }


def drain(model: list[str]) -> dict:
    bodies = photos()
    with Server(*model) as server:
        clients = Clients(server.port, bodies, 16, 10**6).start()
        time.sleep(3.0)
        workers = child_pids(server.process.pid)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=30)
        exit_s = time.monotonic() - signalled
        clients.stop.set()
        results = clients.join(timeout=60)
        output = server.close()
    started = [r for r in results if r.get("sent") is not None and r["sent"] < signalled]
    return {
        "requests_sent_before_sigterm": len(started),
        "of_them_answered_200": sum(r["status"] == 200 for r in started),
        "not_answered": sorted({str(r["status"] or r["error"]) for r in started if r["status"] != 200}),
        "exit_code": code,
        "exit_s": round(exit_s, 2),
        "workers_left": sum(process_state(p) not in ("Z", "gone") for p in workers),
        "said_stopped": "digitrec serve: stopped" in output,
    }


def _big_json_bodies() -> dict[str, bytes]:
    """Two 10 MiB JSON bodies: millions of small numbers (the costliest to parse) and one long
    string (parsed in full before it is found not to be pixels)."""
    limit = 10 * 1024 * 1024 - 64
    numbers = ('{"pixels":[' + ",".join(["0"] * (limit // 2)) + "]}").encode()[:limit]
    numbers = numbers[: numbers.rfind(b",")] + b"]}"
    text = ('{"pixels":"' + "a" * (limit - 20) + '"}').encode()
    return {"numbers": numbers, "string": text}


def _big_upload() -> tuple[bytes, str]:
    """A 10 MiB multipart upload of noise named .png (read in full, then found not an image)."""
    noise = np.random.default_rng(0).integers(0, 256, 10 * 1024 * 1024 - 4096, dtype=np.uint8).tobytes()
    return multipart([("noise.png", "image/png", noise)])


def upload(model: list[str], seconds: float = 8.0) -> dict:
    out = {}
    bodies = {kind: (body, "application/json") for kind, body in _big_json_bodies().items()}
    bodies["multipart"] = _big_upload()
    with Server(*model, "--no-access-log") as server:
        for kind, (big, ctype) in bodies.items():
            stop = threading.Event()
            answers: list[int] = []

            def poster(big=big, ctype=ctype, stop=stop, answers=answers):
                while not stop.is_set() and len(answers) < 1000:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                    conn.request("POST", "/predict", body=big, headers={"Content-Type": ctype})
                    answers.append(conn.getresponse().status)
                    conn.close()

            thread = threading.Thread(target=poster, daemon=True)
            thread.start()
            probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            latencies = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                start = time.perf_counter()
                probe.request("GET", "/livez")
                probe.getresponse().read()
                latencies.append(time.perf_counter() - start)
                time.sleep(0.005)
            stop.set()
            thread.join(timeout=120)
            probe.close()
            ms = np.array(latencies) * 1000
            out[kind] = {
                "body_mib": round(len(big) / 2**20, 2),
                "uploads": len(answers),
                "upload_statuses": sorted(set(answers)),
                "probes": len(ms),
                "livez_p50_ms": round(float(np.percentile(ms, 50)), 2),
                "livez_p99_ms": round(float(np.percentile(ms, 99)), 2),
                "livez_max_ms": round(float(ms.max()), 2),
            }
    return out


def throughput(model: list[str], before: str, repeat: int = 3) -> dict:
    uploads = sample_uploads()
    folder = Path(tempfile.mkdtemp(prefix="digitrec-before-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), before], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    runs: dict[str, list[float]] = {"before": [], "now": []}
    cpu: dict[str, list[dict[str, float]]] = {"before": [], "now": []}  # ms per request
    try:
        for _ in range(repeat):
            for name, env in (("before", {"PYTHONPATH": str(folder / "src")}), ("now", None)):
                with Server(*model, env=env) as server:
                    run_level(server.port, uploads, 4, 100, 30)  # warm-up
                    level = measured_level(server, uploads, 16, 2000, 60)
                cpu[name].append({part: level[f"{part}_cpu_ms_per_request"] for part in CPU_PARTS})
                runs[name].append(level["requests_per_s"])
                print(f"throughput {name}: {level['requests_per_s']} req/s, CPU ms a request {cpu[name][-1]}",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, capture_output=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    pairs = [now / then for then, now in zip(runs["before"], runs["now"])]  # each run beside its neighbour
    return {
        "before": before,
        "clients": 16,
        "requests_per_s": runs,
        "cpu_ms_per_request": cpu,
        "median_cpu_ms_per_request": {
            name: {part: statistics.median(row[part] for row in rows) for part in rows[0]} for name, rows in cpu.items()
        },
        "median_before": medians["before"],
        "median_now": medians["now"],
        "change_of_medians": round(medians["now"] / medians["before"] - 1, 3),
        "median_paired_change": round(statistics.median(pairs) - 1, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="default: serve's own default (the newest run, else the shipped model)")
    parser.add_argument(
        "--only", nargs="+", default=["faults", "burst", "drain", "upload", "throughput"],
        choices=["faults", "burst", "flood", "drain", "upload", "throughput"],
    )  # fmt: skip
    parser.add_argument("--before", default="c81d4fd", help="the commit whose throughput is compared")
    parser.add_argument("--repeat", type=int, default=5, help="alternating throughput runs of each (default: 5)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "service_ops.json")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    result: dict = {
        "benchmark": "service_ops",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks.service_ops", *sys.argv[1:]]),
        "machine": machine(),
    }
    if args.out.is_file():  # keep the scenarios not run this time
        result = {**json.loads(args.out.read_text()), **result}
    scenarios = {"faults": faults, "burst": burst, "drain": drain, "upload": upload,
                 "flood": lambda model: burst(model, patient=False)}  # fmt: skip
    for name in args.only:
        result[name] = throughput(model, args.before, args.repeat) if name == "throughput" else scenarios[name](model)
        print(name, json.dumps(result[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
