"""The hot routes without the framework: `POST /predict` and `POST /predict/batch` with no query,
carrying images (an image's bytes as the body, or files in a multipart form and nothing else),
are answered here, the body parsed once into bytes (no temporary file). Every other request, and
any such request that is not plain (a query, a form field, a malformed form, a charset), goes on
to the FastAPI app with its body, which answers it as it always did; the OpenAPI schema still
describes both routes there.

Under load, FastAPI's stack (its middleware, routing, dependency solving, Starlette's form parser
and a `SpooledTemporaryFile` per upload) was about a quarter of the front process's time per
upload; here an upload costs the reading of its body and one parse (docs/service.md, Load).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse

from digitrec.web.worker import server_fault

LEAN_ROUTES = {"/predict": False, "/predict/batch": True}  # whether the route reads several images
RAW_TYPES = ("image/", "application/octet-stream")


def _decode(value: bytes) -> str:
    """A form's names as Starlette decodes them (UTF-8, else Latin-1)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def form_files(ctype: bytes, body: bytes, limit: int) -> list[tuple[str | None, bytes]] | None:
    """The files of a multipart body, each (file name or None, bytes), when the form holds only
    files, in the fields "file" or "files", 1 to `limit` of them, and parses to its closing
    boundary; None for anything else (the framework then answers as it does)."""
    _, params = parse_options_header(ctype)
    boundary = params.get(b"boundary")
    if not boundary or b"charset" in params:
        return None
    parts: list[dict[str, Any]] = []
    name = value = b""  # the header being read
    ended = False

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        nonlocal name
        name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        nonlocal value
        value += data[start:end]

    def on_header_end() -> None:
        nonlocal name, value
        parts[-1]["headers"][name.lower()] = value
        name = value = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    def on_end() -> None:
        nonlocal ended
        ended = True

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_part_data": on_part_data, "on_end": on_end}  # fmt: skip
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except Exception:  # noqa: BLE001 - any malformed form: the framework says what is wrong
        return None
    if not ended or not 1 <= len(parts) <= limit:
        return None
    files = []
    for part in parts:
        _, options = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if _decode(options.get(b"name", b"")) not in ("file", "files") or b"filename" not in options:
            return None
        files.append((_decode(options[b"filename"]) or None, bytes(part["data"])))
    return files


async def read_body(receive: Callable[[], Awaitable[dict]]) -> bytes | None:
    """The whole request body; None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class LeanRoutes:
    """ASGI middleware: answers the plain requests of `LEAN_ROUTES` with `backend.run`, and
    passes everything else on to `app` (a request it read the body of, with that body)."""

    def __init__(self, app, backend, max_batch: int):
        self.app, self.backend, self.max_batch = app, backend, max_batch

    async def __call__(self, scope, receive, send):
        many = LEAN_ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if many is None or scope["query_string"]:
            return await self.app(scope, receive, send)
        ctype = next((value for key, value in scope["headers"] if key == b"content-type"), b"")
        media = ctype.split(b";")[0].strip().lower().decode("latin-1")
        raw = media.startswith(RAW_TYPES)
        if not (raw or media == "multipart/form-data"):
            return await self.app(scope, receive, send)
        body = await read_body(receive)
        if body is None:
            return None  # nobody to answer
        if raw:
            files = None if many or not body else [(None, body)]
        else:
            files = form_files(ctype, body, self.max_batch if many else 1)
        if files is None:
            return await self.app(scope, _replay(body, receive), send)
        job = ("batch", files) if many else ("one", *files[0], False)  # /predict: (name, bytes, preprocessed)
        try:
            response = await self.backend.run(*job, gone=Request(scope, receive).is_disconnected)
        except Exception as exc:  # a bug: a JSON 500, as the framework's handler answers, and the traceback logged
            await JSONResponse(server_fault(exc), status_code=500)(scope, receive, send)
            raise
        await response(scope, receive, send)


def _replay(body: bytes, receive):
    """A `receive` that gives the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
