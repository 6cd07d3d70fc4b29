"""The service's log lines: the access log (one line per request) and the service's own reports
(its start and stop, a job that failed, a worker replaced, uvicorn's messages), as text for people
or, with `--log-format json`, one JSON object a line for a log pipeline, every line of both."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any


def access_logger(fmt: str, stream: Any = None) -> Callable[[dict[str, Any]], None]:
    """A function that writes one access-log line per request to `stream` (stdout), each line
    flushed: `text`, for people, or `json`, one object a line for a log pipeline. (Written
    directly: the logging module's records cost as much again, on every request.)"""
    out = stream or sys.stdout

    def text(entry: dict[str, Any]) -> None:
        out.write(
            f'{entry["time"]} {entry["client"]} "{entry["method"]} {entry["path"]}" {entry["status"]} '
            f"{entry['latency_ms']:.1f} ms id={entry['request_id']}\n"
        )
        out.flush()

    def as_json(entry: dict[str, Any]) -> None:
        out.write(json.dumps(entry, separators=(",", ":")) + "\n")
        out.flush()

    return as_json if fmt == "json" else text


_second: list = [None, ""]  # the last whole second formatted, and its text


def utc_now() -> str:
    """The time now in UTC, ISO 8601 with milliseconds (the date part formatted once a second)."""
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


class ServerLog:
    """Where the service says what it does and what goes wrong: a line on stderr (stdout for
    `level` "info"), with the traceback of the exception being handled when `exc_info`; or, with
    `fmt` "json", one object a line, as the access log: `time`, `level`, `message`, `traceback`.
    Picklable: each worker process gets one."""

    def __init__(self, fmt: str = "text"):
        self.fmt = fmt

    def __call__(self, message: str, level: str = "error", exc_info: bool = False) -> None:
        out = sys.stdout if level == "info" else sys.stderr
        if self.fmt == "json":
            out.write(_json_line(level, message, traceback.format_exc().rstrip("\n") if exc_info else None) + "\n")
        else:
            out.write(message + (":\n" + traceback.format_exc() if exc_info else "\n"))
        out.flush()


class JsonLogFormatter(logging.Formatter):
    """uvicorn's log records (its start, stop and warnings; a request that failed, with its
    traceback) as the objects `ServerLog` writes, with the logger's name."""

    def format(self, record: logging.LogRecord) -> str:
        trace = self.formatException(record.exc_info) if record.exc_info else None
        return _json_line(record.levelname.lower(), record.getMessage(), trace, logger=record.name)


def _json_line(level: str, message: str, trace: str | None, **more: str) -> str:
    """One log object: `time`, `level`, `message`, any `more`, then the `traceback` if there is one."""
    entry = {"time": utc_now(), "level": level, "message": message, **more}
    if trace is not None:
        entry["traceback"] = trace
    return json.dumps(entry, separators=(",", ":"))


def uvicorn_log_config(fmt: str) -> dict[str, Any]:
    """uvicorn's logging configuration: its own for "text", `JsonLogFormatter` on stderr for "json"."""
    from uvicorn.config import LOGGING_CONFIG

    if fmt != "json":
        return LOGGING_CONFIG
    json_handler = {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLogFormatter"}},
        "handlers": {"json": json_handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
    }
