"""web.limits: a body over the limit is a 413 whether its size is declared or only streamed."""

from __future__ import annotations

import asyncio
import json
import os

from digitrec.web.limits import DEFAULT_WORKERS, BodyLimit, Limits


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
    assert Limits().max_batch == 64 and DEFAULT_WORKERS == (os.cpu_count() or 1)  # one worker per core
