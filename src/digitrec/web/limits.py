"""The service's limits and defaults, and the middleware that holds bodies to them; without
FastAPI, so the command line can show them in --help."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

# Python answers one request at a time per process: one worker per core uses the machine.
DEFAULT_WORKERS = os.cpu_count() or 1


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
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _json_response(send, 413, f"request body over {self.limit:,} bytes")


class _TooLarge(Exception):
    pass


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
