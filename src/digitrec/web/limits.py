"""The service's limits and defaults, and the middleware that holds bodies to them; without
FastAPI, so the command line can show them in --help."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may use: those it may run on (affinity), capped by its cgroup's CPU
    quota (a container limited to 2 CPUs on a 64-core host gets 2), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    return max(1, min(count, math.ceil(quota)) if quota else count)


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs' worth of time the cgroup allows (cgroup v2 `cpu.max`, else v1's cfs files); None:
    no limit, or no cgroup to read."""
    try:
        fields = (cgroup / "cpu.max").read_text().split()
        if fields and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


# Python answers one request at a time per process: one worker per usable CPU uses the machine.
DEFAULT_WORKERS = usable_cpus()
# Each worker is a process with its own model (about 80 MiB): more than a few per CPU only wait for
# the CPUs, and a thousand would take the machine's memory.
MAX_WORKERS = max(8, 4 * DEFAULT_WORKERS)
QUEUE_PER_WORKER = 16  # requests that may wait for each worker before the service answers 503


def default_max_queue(workers: int) -> int:
    return QUEUE_PER_WORKER * max(1, workers)


class TooLarge(Exception):
    """A body that grew past the limit while it streamed in (no Content-Length): a 413."""

    def __init__(self, limit: int):
        super().__init__(f"request body over {limit:,} bytes")


@dataclass
class Limits:
    """What one request may carry."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 16_000_000
    max_batch: int = 64


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes with 413, by header or while it streams."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                return await _json_response(send, 413, f"request body over {self.limit:,} bytes")
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(self.limit)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge as exc:  # the app answers 413 itself where it can (its exception handler)
            if not started:
                await _json_response(send, 413, str(exc))


async def _json_response(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
