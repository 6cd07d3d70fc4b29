"""Running the service: bind the port first, then uvicorn with the app, until Ctrl-C or SIGTERM;
drain, and say it stopped."""

from __future__ import annotations

from digitrec.errors import DigitrecError
from digitrec.web.app import WEB_EXTRA, create_app
from digitrec.web.limits import DEFAULT_WORKERS, Limits
from digitrec.web.logs import ServerLog
from digitrec.web.pool import JOB_TIMEOUT


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
    log_format: str = "text",
) -> int:
    """Run the service with uvicorn until Ctrl-C or SIGTERM, then say it stopped and return 0.

    The port is bound first (`listen`, unless `sock` is one already bound): a port in use or a bad
    address is one line before anything loads. `workers` processes each load the model once and
    answer the requests, each job going to the next free one (Python runs one thread at a time
    per process, so on a machine with N cores, N workers serve up to N times as many requests).

    On SIGTERM or Ctrl-C the service drains: it stops accepting connections, /readyz answers 503,
    the requests in flight are answered (for up to `graceful_timeout` seconds), then the workers
    leave with it. `keep_alive` is how long an idle connection stays open (longer than the load
    balancer's idle timeout in front of it); `access_log` is "text", "json" or None; `log_format`
    ("text" or "json") is how the service's own lines are written: its start and stop, a failed
    job, a replaced worker, uvicorn's messages (`web.logs`).
    """
    import signal

    try:
        import uvicorn  # noqa: F401 - the [web] extra, checked before anything binds or loads
    except ImportError:
        raise DigitrecError(WEB_EXTRA) from None
    sock = sock or listen(host, port)
    say = ServerLog(log_format)
    try:
        app = create_app(
            model=model, limits=limits or Limits(), runs_root=runs_root, workers=workers, isolate=True,
            job_timeout=job_timeout, max_queue=max_queue, access_log=access_log, log_format=log_format,
        )  # fmt: skip
        server = _draining_server(app, log_level, keep_alive, graceful_timeout, log_format)
        say(f"digitrec serve: http://{host}:{port}/  ({workers} worker{'s' if workers > 1 else ''}; "
            "API docs at /docs; Ctrl-C stops)", level="info")  # fmt: skip
        # uvicorn stops on SIGINT and SIGTERM, then raises the signal again for the default
        # action; here that ends this call, which says the service stopped.
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            server.run(sockets=[sock])
        except (KeyboardInterrupt, _Stopped):
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        sock.close()
    say("digitrec serve: stopped", level="info")
    return 0


def _draining_server(app, log_level: str, keep_alive: int, graceful_timeout: int, log_format: str = "text"):
    """uvicorn's server for the app, marking it as draining (/readyz: 503) the moment a stop
    signal arrives; uvicorn then stops accepting, answers what is in flight and runs the
    shutdown."""
    import uvicorn

    from digitrec.web.logs import uvicorn_log_config
    from digitrec.web.protocol import NoDelayProtocol

    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=uvicorn_log_config(log_format),
        access_log=False,  # ours (observe.Observe): with the request id, the route and the model
        http=NoDelayProtocol,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=graceful_timeout,
    )

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.draining = True
            super().handle_exit(sig, frame)

    return DrainingServer(config)


class _Stopped(Exception):
    """SIGTERM, raised again by uvicorn after its graceful shutdown."""


def _stop(signum, frame) -> None:
    raise _Stopped
