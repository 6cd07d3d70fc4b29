"""The web service: a REST API over the one Predictor, and a drawing page it serves itself.

    POST /predict          an image upload (multipart, field "file") or JSON {"pixels": 28x28}
    POST /predict/number   an image of several digits in a row
    POST /predict/batch    several images (multipart, field "files")
    POST /explain          which pixels decided the answer, and what each layer saw
    GET  /health           liveness, and whether the model is loaded (HEAD too, as the probes)
    GET  /livez, /readyz   probes (HEAD too): the process answers; a worker can take a job and it is not draining
    GET  /metrics          Prometheus metrics: requests, latency, queue, workers, restarts, timeouts
    GET  /model            name, format, dataset, test accuracy, versions
    GET  /                 the drawing page (no build step, no CDN)
    GET  /docs             the OpenAPI schema, with examples

Answers are the objects `digitrec predict --json` prints. Bad input gets a 4xx status with a JSON
`{"detail": …}`: bodies, pixel counts and batches are capped (all configurable), and anything that
is not an image is refused. The server's own faults are 5xx: a worker that died or hung twice on
a job (503, 504), a full line (503 with Retry-After), a bug (500, its traceback in the log).
The event loop only parses HTTP: predictions run in worker processes, each job going to the next
free one in arrival order (`web.pool`), or in a thread pool when a Predictor is passed in (tests).
Plain image uploads to /predict and /predict/batch are answered before the framework (`web.lean`).
Nothing in a request names a path on the server.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from pathlib import Path

import numpy as np

from digitrec import __version__
from digitrec.errors import DigitrecError
from digitrec.web import openapi
from digitrec.web.jobs import load_predictor, model_info, run_job
from digitrec.web.limits import BodyLimit, Limits, TooLarge, default_max_queue, usable_cpus
from digitrec.web.logs import ServerLog, access_logger
from digitrec.web.pool import GONE, JOB_TIMEOUT
from digitrec.web.worker import server_fault

try:  # the [web] extra; create_app says how to install it when it is missing
    import anyio
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse, Response

    from digitrec.web.inputs import read_images
    from digitrec.web.lean import LeanRoutes
    from digitrec.web.observe import Metrics, Observe
except ImportError:  # pragma: no cover - exercised only without the extra
    FastAPI = None  # type: ignore[misc,assignment]

STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI's files for /docs, from the fastapi-swagger wheel ([web] extra); without it, FastAPI's
# own /docs, which loads them from a CDN.
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
try:
    import fastapi_swagger

    SWAGGER: Path | None = Path(fastapi_swagger.__file__).resolve().parent / "resources"
except ImportError:  # pragma: no cover - an install without the full extra
    SWAGGER = None
WEB_EXTRA = "the web service needs its extra: pip install -e '.[web]' (make setup installs it)"


class _Backend:
    """What answers the jobs: worker processes (`web.pool`), or a Predictor in this process's
    thread pool; and the line in front of them, at most `max_queue` requests long."""

    def __init__(
        self,
        predictor,
        model: str | None,
        limits: Limits,
        runs_root: str | None,
        workers: int,
        isolate: bool = False,
        job_timeout: float | None = JOB_TIMEOUT,
        max_queue: int | None = None,
        log: ServerLog | None = None,
    ):
        self.predictor, self.pool, self.log = predictor, None, log or ServerLog()
        if predictor is None and (workers > 1 or isolate):
            from digitrec import store
            from digitrec.web.pool import WorkerPool

            # Resolve the model here, so that every worker serves the same file and a missing one
            # is one clear line before any worker starts.
            path = str(store.resolve_model(model, runs_root).path)
            load = functools.partial(load_predictor, path, runs_root, limits.max_pixels)
            jobs = functools.partial(run_job, log=self.log)
            self.pool = WorkerPool(workers, load, jobs, model_info, job_timeout=job_timeout, log=self.log)
            self.info = self.pool.info
            self.capacity = self.pool.size
        else:
            if predictor is None:
                self.predictor = load_predictor(model, runs_root, limits.max_pixels)
            else:
                predictor.max_pixels = limits.max_pixels
                predictor.warm_up()
            self.info = model_info(self.predictor)
            # Preprocessing is Python and numpy under one interpreter lock: more threads than
            # cores only take turns slower. Requests beyond this many wait in line instead.
            self.capacity = int(os.environ.get("DIGITREC_SERVE_THREADS") or 0) or usable_cpus()
        self.threads = anyio.CapacityLimiter(self.capacity)
        self.max_queue = default_max_queue(self.capacity) if max_queue is None else max_queue
        self.admitted = 0  # requests taken in and not yet answered: in line, or on a worker
        self.rejected = 0

    def full(self) -> bool:
        """Every worker taken and `max_queue` requests already waiting."""
        return self.admitted >= self.capacity + self.max_queue

    async def run(self, kind: str, *args, gone=None) -> Response:
        """Run a job (`jobs.JOBS`) off the event loop: in a worker process, or in a thread here."""
        if self.pool is not None:
            status, body = await self.pool.run(kind, args, gone=gone)
        else:
            status, body = await anyio.to_thread.run_sync(
                run_job, self.predictor, kind, args, self.log, limiter=self.threads
            )
        headers = {"Retry-After": "1"} if status == 503 else None
        return Response(body, status_code=status, media_type=None if status == GONE else "application/json",
                        headers=headers)  # fmt: skip

    def load(self) -> dict[str, float]:
        """The numbers /metrics shows."""
        numbers = {"in_progress": self.admitted, "rejected": self.rejected}
        if self.pool is not None:
            pool = self.pool
            return {**numbers, "queue_depth": pool.waiting, "busy": pool.busy, "workers": pool.size,
                    "ready": pool.usable, "restarts": pool.restarts, "deaths": pool.deaths,
                    "timeouts": pool.timeouts, "retries": pool.retries}  # fmt: skip
        busy = self.threads.borrowed_tokens
        return {**numbers, "queue_depth": max(0, self.admitted - busy), "busy": busy, "workers": self.capacity,
                "ready": self.capacity}  # fmt: skip

    def alive(self) -> bool:
        return self.pool.alive() if self.pool is not None else self.predictor is not None

    def ready(self) -> bool:
        return self.pool.ready() if self.pool is not None else self.predictor is not None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def create_app(
    predictor=None,
    model: str | None = None,
    limits: Limits | None = None,
    runs_root: str | None = None,
    workers: int = 1,
    *,
    isolate: bool = False,
    job_timeout: float | None = JOB_TIMEOUT,
    max_queue: int | None = None,
    access_log: str | None = None,
    log_format: str | None = None,
):
    """Build the FastAPI app. The model loads once, here (not per request).

    Args:
      predictor: an already loaded Predictor (tests pass one in): jobs run in threads here.
      model: else a model path or run folder (None: the newest run).
      limits: request limits.
      runs_root: where to look for the newest run.
      workers: with more than 1 (or `isolate`), that many worker processes each load the model
        and answer the jobs; this process only parses HTTP and hands the jobs out.
      job_timeout: seconds a job may run on a worker before the worker is killed and replaced.
      max_queue: requests that may wait for a worker before the answer is 503 (None: 16 per worker).
      access_log: "text" or "json" to write one line per request to stdout; None for none.
      log_format: "text" or "json" for its reports of failed jobs and workers (default: as `access_log`).
    """
    if FastAPI is None:
        raise DigitrecError(WEB_EXTRA)
    limits, log = limits or Limits(), ServerLog(log_format or access_log or "text")
    backend = _Backend(predictor, model, limits, runs_root, workers, isolate, job_timeout, max_queue, log)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            app.state.draining = True
            backend.close()

    app = FastAPI(
        title="digitrec",
        version=__version__,
        lifespan=lifespan,
        docs_url=None if SWAGGER else "/docs",  # served below from the package, not a CDN
        redoc_url=None,
        description="Handwritten digit recognition: upload an image or send 28x28 pixels, get the digit "
        "and all ten probabilities, or 'no digit' with the reason.",
    )
    app.state.predictor, app.state.pool, app.state.limits = backend.predictor, backend.pool, limits
    app.state.backend, app.state.draining = backend, False
    _add_error_handlers(app)
    _add_prediction_routes(app, backend, limits)
    _add_other_routes(app, backend, metrics := Metrics(backend.load))
    _answer_head(app)
    return _layers(app, backend, limits, metrics, access_log)


def _layers(app, backend: _Backend, limits: Limits, metrics, access_log: str | None):
    """What a request passes through before the app, outermost first: metrics, the access log and
    its id (`Observe`), its place in line (`Admission`), the body limit, then plain uploads to the
    hot routes are answered (`LeanRoutes`) and everything else goes on to the framework."""
    lean = LeanRoutes(app, backend, limits.max_batch)
    return Observe(
        Admission(BodyLimit(lean, limits.max_body_bytes) if limits.max_body_bytes else lean, backend), metrics,
        access_logger(access_log) if access_log else None,
        model=str(backend.info.get("name", "")), state=app.state, routes=JOB_ROUTES,
    )  # fmt: skip


JOB_ROUTES = frozenset({"/predict", "/predict/number", "/predict/batch", "/explain"})
BUSY = b'{"detail":"the service is busy: every worker is taken and the line is full; try again"}'


class Admission:
    """ASGI middleware: a request for a job takes its place in line, or, when every worker is
    taken and the line is full, gets 503 with Retry-After at once: before its body is read and
    before the framework routes it, so that turning a crowd away costs the front little."""

    def __init__(self, app, backend: _Backend):
        self.app, self.backend = app, backend

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in JOB_ROUTES:
            return await self.app(scope, receive, send)
        backend = self.backend
        if backend.full():
            backend.rejected += 1
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BUSY)).encode()),
                       (b"retry-after", b"1")]  # fmt: skip
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": BUSY})
            return
        backend.admitted += 1
        try:
            await self.app(scope, receive, send)
        finally:
            backend.admitted -= 1


def _add_error_handlers(app) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc):  # FastAPI's own 422, kept short and JSON
        return JSONResponse(
            status_code=422,
            content={"detail": "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:3])},
        )

    @app.exception_handler(TooLarge)
    async def _too_large(request, exc):  # a chunked body that grew past the limit
        return JSONResponse(status_code=413, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # a bug: the server's fault; uvicorn logs the traceback
        return JSONResponse(status_code=500, content=server_fault(exc))


def _add_prediction_routes(app, backend: _Backend, limits: Limits) -> None:
    @app.post("/predict", **openapi.PREDICT)
    async def predict(request: Request, preprocessed: bool = False):
        """Add `?preprocessed=true` to get the 28x28 image the model saw, as `preprocessed`."""
        ((name, item),) = await read_images(request, "file", False, limits)
        return await backend.run("one", name, item, preprocessed, gone=request.is_disconnected)

    @app.post("/predict/number", **openapi.PREDICT_NUMBER)
    async def predict_number(request: Request):
        ((name, item),) = await read_images(request, "file", False, limits)
        if isinstance(item, np.ndarray):
            raise HTTPException(422, "/predict/number reads an image upload, not pixels")
        return await backend.run("number", name, item, gone=request.is_disconnected)

    @app.post("/explain", **openapi.EXPLAIN)
    async def explain(request: Request, digit: int | None = None, maps: bool = False):
        """Why the model answered what it did: the JSON of `digitrec explain --json`; `?digit=7`
        asks "why (not) a 7?", `?maps=true` adds each layer's first eight feature maps."""
        if digit is not None and not 0 <= digit <= 9:
            raise HTTPException(422, "digit must be between 0 and 9")
        ((name, item),) = await read_images(request, "file", False, limits)
        return await backend.run("explain", name, item, digit, maps, gone=request.is_disconnected)

    @app.post("/predict/batch", **openapi.PREDICT_BATCH)
    async def predict_batch(request: Request):
        items = await read_images(request, "files", True, limits)
        return await backend.run("batch", items, gone=request.is_disconnected)


def _add_other_routes(app, backend: _Backend, metrics) -> None:
    started = time.time()

    @app.get("/health", summary="Whether the model is loaded (liveness and readiness in one)")
    async def health():
        loaded = backend.alive()
        content = {"status": "ok" if loaded else "down", "model_loaded": loaded,
                   "uptime_s": round(time.time() - started, 1)}  # fmt: skip
        return JSONResponse(status_code=200 if loaded else 503, content=content)

    @app.get("/livez", summary="Liveness probe: the process answers")
    async def livez():
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness probe: a worker can take a job and the service is not draining")
    async def readyz():
        if app.state.draining:
            return JSONResponse(status_code=503, content={"status": "draining"})
        if not backend.ready():
            return JSONResponse(status_code=503, content={"status": "no worker ready"})
        return {"status": "ready", "workers_ready": backend.load()["ready"]}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/model", summary="The model being served")
    async def model_endpoint():
        return backend.info

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    _add_docs_routes(app)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():  # only the files shipped beside this module
            raise HTTPException(404, "not found")
        media = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"))


def _answer_head(app) -> None:
    """Every GET route answers HEAD too, as HTTP asks of a server (uptime monitors and `curl -I`
    send it): the same status and headers, and the server sends no body."""
    from fastapi.routing import APIRoute

    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    heads = {r.path for r in routes if "HEAD" in (r.methods or ())}
    for route in [r for r in routes if "GET" in (r.methods or ()) and r.path not in heads]:
        app.add_api_route(route.path, route.endpoint, methods=["HEAD"], include_in_schema=False,
                          response_class=route.response_class)  # fmt: skip


def _add_docs_routes(app) -> None:
    """/docs: Swagger UI from the package's own files (without the wheel, FastAPI's own)."""
    if not SWAGGER:
        return

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request):
        """Swagger UI, its script and style from the package: it works without internet."""
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="digitrec API",
            swagger_js_url=f"{root}/docs/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/favicon-32x32.png",
        )

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_file(name: str):
        media = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        if name not in SWAGGER_FILES:
            raise HTTPException(404, "not found")
        return FileResponse(SWAGGER / name, media_type=media[Path(name).suffix])
