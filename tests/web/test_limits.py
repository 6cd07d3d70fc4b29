"""web.limits: a body over the limit is a 413 whether its size is declared or only streamed."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from digitrec.web.limits import DEFAULT_WORKERS, BodyLimit, Limits, usable_cpus


async def _echo(scope, receive, send):  # an app that reads the whole body, then answers 200
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(app, chunks: list[bytes], declared: int | None = None) -> tuple[int, bytes]:
    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "headers": headers}, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_bodies_over_the_limit_are_413_declared_or_streamed():
    app = BodyLimit(_echo, limit=10)
    assert _call(app, [b"12345"], declared=5) == (200, b"ok")
    status, body = _call(app, [b"x" * 11], declared=11)
    assert status == 413 and json.loads(body)["detail"] == "request body over 10 bytes"
    status, _ = _call(app, [b"123456", b"789012"])  # no length declared: counted as it streams
    assert status == 413


def test_the_defaults_the_help_shows():
    assert Limits().max_batch == 64 and DEFAULT_WORKERS == usable_cpus()  # one worker per usable CPU


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "max 100000\n"}, None),  # cgroup v2, no limit: the CPUs it may run on
        ({"cpu.max": "200000 100000\n"}, 2),  # a container limited to 2 CPUs
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs' time: 2 workers share it
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no limit
        ({}, None),  # no cgroup files at all
    ],
)
def test_workers_follow_the_cgroup_quota_and_the_affinity(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    allowed = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == (min(allowed, expected) if expected else allowed)


def test_workers_follow_the_affinity_a_process_is_given(tmp_path):
    import subprocess
    import sys

    code = "from digitrec.web.limits import DEFAULT_WORKERS; print(DEFAULT_WORKERS)"
    proc = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"  # taskset -c 0 on a machine of several cores: one worker
