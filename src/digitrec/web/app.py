"""The web service: a REST API over the one Predictor, and a drawing page it serves itself.

    POST /predict          an image upload (multipart, field "file") or JSON {"pixels": 28x28}
    POST /predict/number   an image of several digits in a row
    POST /predict/batch    several images (multipart, field "files")
    POST /explain          which pixels decided the answer, and what each layer saw
    GET  /health           liveness, and whether the model is loaded
    GET  /livez, /readyz   probes: the process answers; a worker can take a job and it is not draining
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
from digitrec.web.limits import DEFAULT_WORKERS, BodyLimit, Limits, TooLarge, default_max_queue, usable_cpus
from digitrec.web.pool import GONE, JOB_TIMEOUT

try:  # the [web] extra; create_app says how to install it when it is missing
    import anyio
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse, Response

    from digitrec.web.inputs import read_images
    from digitrec.web.observe import Metrics, Observe, access_logger
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


class Busy(Exception):
    """The line for a worker is full: 503 with Retry-After."""


class _Place:
    """A request's place in line, given back when it has its answer (a plain class: cheaper per
    request than a generator's context manager)."""

    __slots__ = ("backend",)

    def __init__(self, backend: _Backend):
        self.backend = backend

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        self.backend.admitted -= 1


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
    ):
        self.predictor, self.pool = predictor, None
        if predictor is None and (workers > 1 or isolate):
            from digitrec import store
            from digitrec.web.pool import WorkerPool

            # Resolve the model here, so that every worker serves the same file and a missing one
            # is one clear line before any worker starts.
            path = str(store.resolve_model(model, runs_root).path)
            load = functools.partial(load_predictor, path, runs_root, limits.max_pixels)
            self.pool = WorkerPool(workers, load, run_job, model_info, job_timeout=job_timeout)
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

    def admission(self) -> _Place:
        """Hold a place for one request (`with backend.admission(): …`), or raise Busy when every
        worker is taken and the line is full: the client is told to come back, instead of
        waiting without limit."""
        if self.admitted >= self.capacity + self.max_queue:
            self.rejected += 1
            raise Busy
        self.admitted += 1
        return _Place(self)

    async def run(self, kind: str, *args, gone=None) -> Response:
        """Run a job (`jobs.JOBS`) off the event loop: in a worker process, or in a thread here."""
        if self.pool is not None:
            status, body = await self.pool.run(kind, args, gone=gone)
        else:
            status, body = await anyio.to_thread.run_sync(run_job, self.predictor, kind, args, limiter=self.threads)
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
    """
    if FastAPI is None:
        raise DigitrecError(WEB_EXTRA)
    limits = limits or Limits()
    backend = _Backend(predictor, model, limits, runs_root, workers, isolate, job_timeout, max_queue)

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
    metrics = Metrics(backend.load)
    _add_error_handlers(app)
    _add_prediction_routes(app, backend, limits)
    _add_other_routes(app, backend, metrics)
    inner = BodyLimit(app, limits.max_body_bytes) if limits.max_body_bytes else app
    log = access_logger(access_log) if access_log else None
    return Observe(inner, metrics, log, model=str(backend.info.get("name", "")), state=app.state)


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

    @app.exception_handler(Busy)
    async def _busy(request, exc):
        return JSONResponse(
            status_code=503,
            content={"detail": "the service is busy: every worker is taken and the line is full; try again"},
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # a bug: the server's fault; uvicorn logs the traceback
        return JSONResponse(
            status_code=500, content={"detail": f"the server failed on this request ({type(exc).__name__})"}
        )


def _add_prediction_routes(app, backend: _Backend, limits: Limits) -> None:
    # Each takes its place in line before it reads the body: a full line costs no parsing.
    @app.post("/predict", **openapi.PREDICT)
    async def predict(request: Request, preprocessed: bool = False):
        """Add `?preprocessed=true` to get the 28x28 image the model saw, as `preprocessed`."""
        with backend.admission():
            ((name, item),) = await read_images(request, "file", False, limits)
            return await backend.run("one", name, item, preprocessed, gone=request.is_disconnected)

    @app.post("/predict/number", **openapi.PREDICT_NUMBER)
    async def predict_number(request: Request):
        with backend.admission():
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
        with backend.admission():
            ((name, item),) = await read_images(request, "file", False, limits)
            return await backend.run("explain", name, item, digit, maps, gone=request.is_disconnected)

    @app.post("/predict/batch", **openapi.PREDICT_BATCH)
    async def predict_batch(request: Request):
        with backend.admission():
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

    if SWAGGER:

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

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():  # only the files shipped beside this module
            raise HTTPException(404, "not found")
        media = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"))


def listen(host: str, port: int):
    """A socket bound to host:port, or one line that says why not (before any model loads or the
    service says where it is): an address that is no address is bad usage, a port in use or an
    address of another machine a failure."""
    import errno
    import socket

    from digitrec.errors import OptionError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise OptionError("host", f"{host!r} is not an address ({getattr(exc, 'strerror', None) or exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reasons: dict[int | None, str] = {
            errno.EADDRINUSE: "the port is in use (another `digitrec serve`? try --port)",
            errno.EACCES: "permission denied (ports below 1024 need root)",
            errno.EADDRNOTAVAIL: "that address is not this machine's",
        }
        reason = reasons.get(exc.errno, exc.strerror or str(exc))
        raise DigitrecError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def serve(
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    runs_root: str | None = None,
    workers: int = DEFAULT_WORKERS,
    log_level: str = "warning",
    sock=None,
    *,
    job_timeout: float | None = JOB_TIMEOUT,
    max_queue: int | None = None,
    graceful_timeout: int = 10,
    keep_alive: int = 5,
    access_log: str | None = "text",
) -> int:
    """Run the service with uvicorn until Ctrl-C or SIGTERM, then say it stopped and return 0.

    The port is bound first (`listen`, unless `sock` is one already bound): a port in use or a bad
    address is one line before anything loads. `workers` processes each load the model once and
    answer the requests, each job going to the next free one (Python runs one thread at a time
    per process, so on a machine with N cores, N workers serve up to N times as many requests).

    On SIGTERM or Ctrl-C the service drains: it stops accepting connections, /readyz answers 503,
    the requests in flight are answered (for up to `graceful_timeout` seconds), then the workers
    leave with it. `keep_alive` is how long an idle connection stays open (longer than the load
    balancer's idle timeout in front of it); `access_log` is "text", "json" or None.
    """
    import signal

    try:
        import uvicorn

        from digitrec.web.protocol import NoDelayProtocol
    except ImportError:
        raise DigitrecError(WEB_EXTRA) from None
    sock = sock or listen(host, port)
    try:
        app = create_app(
            model=model, limits=limits or Limits(), runs_root=runs_root, workers=workers, isolate=True,
            job_timeout=job_timeout, max_queue=max_queue, access_log=access_log,
        )  # fmt: skip
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,  # ours (observe.Observe): with the request id, the route and the model
            http=NoDelayProtocol,
            timeout_keep_alive=keep_alive,
            timeout_graceful_shutdown=graceful_timeout,
        )
        print(f"digitrec serve: http://{host}:{port}/  ({workers} worker{'s' if workers > 1 else ''}; "
              "API docs at /docs; Ctrl-C stops)", flush=True)  # fmt: skip
        # uvicorn stops on SIGINT and SIGTERM, then raises the signal again for the default
        # action; here that ends this call, which says the service stopped.
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            _draining_server(config, app.state).run(sockets=[sock])
        except (KeyboardInterrupt, _Stopped):
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        sock.close()
    print("digitrec serve: stopped", flush=True)
    return 0


def _draining_server(config, state):
    """uvicorn's server, marking the app as draining (/readyz: 503) the moment a stop signal
    arrives; uvicorn then stops accepting, answers what is in flight and runs the shutdown."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            state.draining = True
            super().handle_exit(sig, frame)

    return DrainingServer(config)


class _Stopped(Exception):
    """SIGTERM, raised again by uvicorn after its graceful shutdown."""


def _stop(signum, frame) -> None:
    raise _Stopped
