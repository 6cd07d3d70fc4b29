"""web.logs: the service's own lines, as text or one JSON object a line, uvicorn's included."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from digitrec.web.logs import JsonLogFormatter, ServerLog, utc_now, uvicorn_log_config


def _fail() -> None:
    raise ValueError("the bug")


def test_a_server_line_says_what_happened_as_text_or_as_json(capsys):
    ServerLog()("digitrec serve: a worker stopped")
    ServerLog("json")("digitrec serve: started", level="info")
    out, err = capsys.readouterr()
    assert err == "digitrec serve: a worker stopped\n"
    entry = json.loads(out)
    assert set(entry) == {"time", "level", "message"} and entry["level"] == "info"
    assert entry["message"] == "digitrec serve: started"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failure_carries_its_traceback(fmt, capsys):
    try:
        _fail()
    except ValueError:
        ServerLog(fmt)("digitrec serve: one job failed", exc_info=True)
    err = capsys.readouterr().err
    if fmt == "text":
        assert err.startswith("digitrec serve: one job failed:\nTraceback (most recent call last):\n")
        assert err.endswith("ValueError: the bug\n")
    else:
        (line,) = err.splitlines()
        entry = json.loads(line)
        assert entry["level"] == "error" and entry["traceback"].endswith("ValueError: the bug")


def test_the_time_is_utc_to_the_millisecond():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_now())


def test_uvicorns_records_become_json_objects():
    """uvicorn's own logger, configured as `digitrec serve --log-format json` configures it (in a
    process of its own: logging's configuration is global): a request that failed is one line,
    its traceback inside."""
    script = (
        "import logging, logging.config\n"
        "from digitrec.web.logs import uvicorn_log_config\n"
        "logging.config.dictConfig(uvicorn_log_config('json'))\n"
        "try:\n"
        "    raise ValueError('the bug')\n"
        "except ValueError:\n"
        "    logging.getLogger('uvicorn.error').exception('Exception in ASGI application')\n"
        "logging.getLogger('uvicorn.error').warning('Invalid HTTP request received.')\n"
        "logging.getLogger('uvicorn.error').info('Started server process [%d]', 42)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    first, second, third = (json.loads(line) for line in done.stderr.splitlines())
    assert (first["level"], first["logger"]) == ("error", "uvicorn.error")
    assert first["message"] == "Exception in ASGI application"
    assert first["traceback"].endswith("ValueError: the bug")
    assert (second["level"], second["message"]) == ("warning", "Invalid HTTP request received.")
    assert "traceback" not in second and third["message"] == "Started server process [42]"


def test_the_text_format_keeps_uvicorns_own_configuration():
    from uvicorn.config import LOGGING_CONFIG

    assert uvicorn_log_config("text") is LOGGING_CONFIG


def test_a_record_without_an_exception_has_no_traceback():
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (42,), None)
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["message"] == "Started server process [42]" and entry["level"] == "info" and "traceback" not in entry
