"""The web service: a REST API over the one Predictor, and a drawing page it serves itself.

    POST /predict          an image upload (multipart, field "file") or JSON {"pixels": 28x28}
    POST /predict/number   an image of several digits in a row
    POST /predict/batch    several images (multipart, field "files")
    GET  /health           liveness, and whether the model is loaded
    GET  /model            name, format, dataset, test accuracy, versions
    GET  /                 the drawing page (no build step, no CDN)
    GET  /docs             the OpenAPI schema, with examples

Answers are the objects `digitrec predict --json` prints. Bad input gets a 4xx status with a JSON
`{"detail": …}`, never a 500: bodies, pixel counts and batches are capped (all configurable), and
anything that is not an image is refused. The event loop only parses HTTP: predictions run in a
thread pool (one process), or with `workers` > 1 in that many worker processes, each job going to
the next free one in arrival order (`web.pool`). Nothing in a request names a path on the server.
"""

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import DigitrecError, __version__
from .jobs import load_predictor, model_info, run_job
from .limits import DEFAULT_WORKERS, Limits

try:  # the [web] extra; create_app says how to install it when it is missing
    import anyio
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
except ImportError:  # pragma: no cover - exercised only without the extra
    FastAPI = None  # type: ignore[misc,assignment]

STATIC = Path(__file__).resolve().parent / "static"


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


EXAMPLE_PREDICTION = {
    "file": "seven.png",
    "digit": 7,
    "confidence": 0.9987,
    "probabilities": [0.0, 0.0003, 0.0006, 0.0, 0.0, 0.0, 0.0, 0.9987, 0.0, 0.0004],
}
EXAMPLE_NO_DIGIT = {
    "file": "blank.jpg",
    "digit": None,
    "confidence": 0.31,
    "probabilities": [0.1] * 10,
    "reason": "no ink found (a blank or too faint image)",
}


def create_app(
    predictor=None,
    model: str | None = None,
    limits: Limits | None = None,
    runs_root: str | None = None,
    workers: int = 1,
):
    """Build the FastAPI app. The model loads once, here (not per request).

    Args:
      predictor: an already loaded Predictor (tests pass one in).
      model: else a model path or run folder (None: the newest run).
      limits: request limits.
      runs_root: where to look for the newest run.
      workers: with more than 1 (and no `predictor`), that many worker processes each load the
        model and answer the jobs; this process only parses HTTP and hands the jobs out.
    """
    if FastAPI is None:
        raise DigitrecError("the web service needs its extra: pip install -e '.[web]' (make setup installs it)")

    limits = limits or Limits()
    pool = None
    if predictor is None and workers > 1:
        import functools

        from .. import store
        from .pool import WorkerPool

        # Resolve the model here, so that every worker serves the same file and a missing one is
        # one clear line before any worker starts.
        path = str(store.resolve_model(model, runs_root).path)
        pool = WorkerPool(
            workers, functools.partial(load_predictor, path, runs_root, limits.max_pixels), run_job, model_info
        )
        info = pool.info
    else:
        if predictor is None:
            predictor = load_predictor(model, runs_root, limits.max_pixels)
        else:
            predictor.max_pixels = limits.max_pixels
            predictor.warm_up()
        info = model_info(predictor)
    started = time.time()
    # Preprocessing is Python and numpy under one interpreter lock: more threads than cores only
    # take turns slower. Requests beyond this many wait in line instead.
    threads = anyio.CapacityLimiter(int(os.environ.get("DIGITREC_SERVE_THREADS") or 0) or os.cpu_count() or 1)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            if pool is not None:
                pool.close()

    app = FastAPI(
        title="digitrec",
        version=__version__,
        lifespan=lifespan,
        description="Handwritten digit recognition: upload an image or send 28x28 pixels, get the digit "
        "and all ten probabilities, or 'no digit' with the reason.",
    )
    app.state.predictor = predictor
    app.state.pool = pool
    app.state.limits = limits

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc):  # FastAPI's own 422, kept short and JSON
        return JSONResponse(
            status_code=422,
            content={"detail": "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:3])},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # never a bare 500 page; the worker carries on
        return JSONResponse(
            status_code=400, content={"detail": f"could not process the request ({type(exc).__name__})"}
        )

    async def _images(request: Request, field: str, many: bool) -> list[tuple[str | None, Any]]:
        """The images in a request: uploads (multipart) or 28x28 pixel arrays (JSON)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            try:
                form = await request.form(max_files=limits.max_batch + 1, max_fields=limits.max_batch + 16)
            except Exception as exc:  # noqa: BLE001 - any malformed multipart body
                if "too many" in str(exc).lower():
                    raise HTTPException(
                        413, f"at most {limits.max_batch if many else 1} image(s) per request"
                    ) from None
                raise HTTPException(400, "malformed multipart body") from None
            uploads = [v for k, v in form.multi_items() if k in (field, "file", "files") and not isinstance(v, str)]
            if not uploads:
                raise HTTPException(422, f"no image in the form: send the file in the field '{field}'")
            if len(uploads) > (limits.max_batch if many else 1):
                raise HTTPException(413, f"at most {limits.max_batch if many else 1} image(s) per request")
            return [(u.filename or None, await u.read()) for u in uploads]
        if ctype == "application/json":
            raw = await request.body()
            try:
                payload = json.loads(raw)
            except (ValueError, RecursionError):
                raise HTTPException(400, "the body is not valid JSON") from None
            items = payload.get("images") if many and isinstance(payload, dict) else [payload]
            if not isinstance(items, list) or not items:
                raise HTTPException(
                    422, 'send {"pixels": [[…28 rows of 28 numbers…]]}' + (' in "images": [...]' if many else "")
                )
            if len(items) > limits.max_batch:
                raise HTTPException(413, f"at most {limits.max_batch} images per request")
            return [(None, _pixels(item)) for item in items]
        raise HTTPException(415, "send an image as multipart/form-data (field 'file') or JSON 28x28 pixels")

    def _pixels(item: Any) -> np.ndarray:
        pixels = item.get("pixels") if isinstance(item, dict) else None
        if not isinstance(pixels, list) or len(pixels) != 28:
            raise HTTPException(422, '"pixels" must be 28 rows of 28 numbers (0-1 or 0-255, light digit on dark)')
        try:
            array = np.array(pixels, dtype=np.float64)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise HTTPException(422, '"pixels" must be 28 rows of 28 numbers') from None
        if array.shape != (28, 28) or not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
            raise HTTPException(422, '"pixels" must be 28 rows of 28 finite numbers between 0 and 255')
        return (array / 255.0 if array.max() > 1.0 else array).astype(np.float32)

    async def _run(kind: str, *args) -> Response:
        """Run a job (`jobs.JOBS`) off the event loop: in a worker process, or in a thread here."""
        if pool is not None:
            status, body = await pool.run(kind, args)
        else:
            status, body = await anyio.to_thread.run_sync(run_job, predictor, kind, args, limiter=threads)
        return Response(body, status_code=status, media_type="application/json")

    responses: dict[int | str, dict[str, Any]] = {
        413: {"description": "body, image or batch over the limits"},
        415: {"description": "not an image upload nor JSON"},
        422: {"description": "not a readable image, or pixels of the wrong shape"},
    }

    @app.post(
        "/predict",
        summary="Read one digit",
        responses={
            200: {
                "description": "the digit, or null with a reason",
                "content": {
                    "application/json": {
                        "examples": {"digit": {"value": EXAMPLE_PREDICTION}, "no digit": {"value": EXAMPLE_NO_DIGIT}}
                    }
                },
            },
            **responses,
        },
        openapi_extra={
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    },
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "pixels": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
                            },
                        },
                        "example": {"pixels": [[0] * 28] * 28},
                    },
                }
            }
        },
    )
    async def predict(request: Request, preprocessed: bool = False):
        """Add `?preprocessed=true` to get the 28x28 image the model saw, as `preprocessed`."""
        ((name, item),) = await _images(request, "file", many=False)
        return await _run("one", name, item, preprocessed)

    @app.post(
        "/predict/number",
        summary="Read a row of digits as one number",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "file": "42.png",
                            "number": "42",
                            "digits": [
                                {"digit": 4, "confidence": 0.99, "probabilities": [0.0] * 10},
                                {"digit": 2, "confidence": 0.98, "probabilities": [0.0] * 10},
                            ],
                        }
                    }
                }
            },
            **responses,
        },
        openapi_extra={
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                }
            }
        },
    )
    async def predict_number(request: Request):
        ((name, item),) = await _images(request, "file", many=False)
        if isinstance(item, np.ndarray):
            raise HTTPException(422, "/predict/number reads an image upload, not pixels")
        return await _run("number", name, item)

    @app.post(
        "/predict/batch",
        summary="Read several images, one digit each",
        responses={
            200: {
                "content": {"application/json": {"example": {"predictions": [EXAMPLE_PREDICTION, EXAMPLE_NO_DIGIT]}}}
            },
            **responses,
        },
        openapi_extra={
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                            "required": ["files"],
                        }
                    }
                }
            }
        },
    )
    async def predict_batch(request: Request):
        return await _run("batch", await _images(request, "files", many=True))

    @app.get("/health", summary="Liveness and readiness")
    async def health():
        loaded = pool.alive() if pool is not None else predictor is not None
        return JSONResponse(
            status_code=200 if loaded else 503,
            content={
                "status": "ok" if loaded else "down",
                "model_loaded": loaded,
                "uptime_s": round(time.time() - started, 1),
            },
        )

    @app.get("/model", summary="The model being served")
    async def model_endpoint():
        return info

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():  # only the files shipped beside this module
            raise HTTPException(404, "not found")
        media = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}.get(
            path.suffix, "application/octet-stream"
        )
        return FileResponse(path, media_type=media)

    return BodyLimit(app, limits.max_body_bytes) if limits.max_body_bytes else app


def serve(
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    runs_root: str | None = None,
    workers: int = DEFAULT_WORKERS,
    log_level: str = "warning",
) -> int:
    """Run the service with uvicorn until interrupted.

    With `workers` > 1, that many worker processes each load the model once and answer the
    requests, each job going to the next free one (Python runs one thread at a time per process,
    so on a machine with N cores, N workers serve up to N times as many requests).
    """
    try:
        import uvicorn

        from .protocol import NoDelayProtocol
    except ImportError:
        raise DigitrecError(
            "the web service needs its extra: pip install -e '.[web]' (make setup installs it)"
        ) from None
    app = create_app(model=model, limits=limits or Limits(), runs_root=runs_root, workers=workers)
    where = f"{workers} workers; " if workers > 1 else ""
    print(f"digitrec serve: http://{host}:{port}/  ({where}API docs at /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, http=NoDelayProtocol)
    return 0
