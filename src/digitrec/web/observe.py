"""What the people who run the service see: Prometheus metrics at /metrics, an access log (text or
one JSON object a line) and a request id on every answer (`X-Request-ID`, the client's if it sent
a usable one). One ASGI middleware, outside everything else, so that every answer is counted and
logged, 413s and 503s included. The log lines themselves are written by `web.logs`."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

from digitrec.web.logs import utc_now

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


class Metrics:
    """The service's Prometheus registry (one per app, so that several apps in one process, as in
    the tests, do not mix their counts).

    `load` is asked at each scrape for the current numbers: a dict with `in_progress`, `queue_depth`, `busy`,
    `workers`, `ready`, and the counters `restarts`, `deaths`, `timeouts`, `retries`, `rejected`.
    """

    def __init__(self, load: Callable[[], dict[str, float]]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "digitrec_requests", "Requests answered, by route, method and status.", ["route", "method", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "digitrec_request_duration_seconds", "Time from the request's arrival to its answer, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._load = load
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        for name, help_text, key in (
            ("digitrec_requests_in_progress", "Requests taken in and not yet answered.", "in_progress"),
            ("digitrec_queue_depth", "Requests waiting for a free worker.", "queue_depth"),
            ("digitrec_workers_busy", "Workers running a job.", "busy"),
            ("digitrec_workers", "Worker slots (processes, or threads when answering in-process).", "workers"),
            ("digitrec_workers_ready", "Workers that can take a job (not being restarted).", "ready"),
        ):
            Gauge(name, help_text, registry=self.registry).set_function(self._reader(key))
        self.registry.register(_Counters(load))

    def _reader(self, key: str) -> Callable[[], float]:
        return lambda: float(self._load()[key])

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() validates and locks on every call: looked up once per key
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.latency.labels(route))  # fmt: skip
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Counters:
    """The worker pool's own counters, read when scraped."""

    HELP = {
        "restarts": ("digitrec_worker_restarts", "Workers started in place of one that died, hung or failed to start."),
        "deaths": ("digitrec_worker_deaths", "Jobs whose worker died under them."),
        "timeouts": ("digitrec_job_timeouts", "Jobs that ran past --job-timeout (their worker was killed)."),
        "retries": ("digitrec_job_retries", "Jobs run a second time on another worker."),
        "rejected": ("digitrec_rejected", "Requests answered 503 because the line for a worker was full."),
    }

    def __init__(self, load: Callable[[], dict[str, float]]):
        self._load = load

    def describe(self):
        return []  # collected only at scrape time (the pool's numbers change)

    def collect(self):
        numbers = self._load()
        for key, (name, help_text) in self.HELP.items():
            yield CounterMetricFamily(name, help_text, value=numbers.get(key, 0))


class Observe:
    """ASGI middleware: a request id for every request (echoed as `X-Request-ID`), and on each
    answer a count and a latency in `metrics` and, with `log`, an access-log entry."""

    def __init__(
        self,
        app,
        metrics: Metrics,
        log: Callable[[dict[str, Any]], None] | None,
        model: str = "",
        state: Any = None,
        routes: frozenset[str] = frozenset(),
    ):
        self.app, self.metrics, self.log, self.model = app, metrics, log, model
        self.state = state  # the FastAPI app's state, reachable from the outermost app
        self.routes = routes  # paths named as routes even when answered before routing (a 503)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what a client gets if the app fails before answering (the server errs)

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or (
                scope["path"] if scope["path"] in self.routes else "unmatched"
            )
            self.metrics.observe(route, scope["method"], status, seconds)
            if self.log is not None:
                client = scope.get("client")
                self.log(
                    {
                        "time": utc_now(),
                        "request_id": request_id,
                        "client": client[0] if client else "-",
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "latency_ms": round(seconds * 1000, 2),
                        "model": self.model,
                    }
                )


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None
