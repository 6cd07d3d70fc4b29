"""The service for the people who run it: probes, Prometheus metrics, the access log and request
ids, honest status codes (413 for any body over the limit, 503 with Retry-After when the line is
full, 500 for the server's own bugs), and the real service under faults: a worker killed or
stopped mid-load, SIGTERM with requests in flight."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.support.helpers import IN_CI, draw_digit
from tests.support.serverproc import child_pids, process_state

pytest.importorskip("fastapi") if not IN_CI else None
from fastapi.testclient import TestClient  # noqa: E402

from digitrec.web import Limits, create_app  # noqa: E402


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


SEVEN = _png(draw_digit("7"))


@pytest.fixture(scope="module")
def predictor(good_run):
    from digitrec.reading.predictor import Predictor

    return Predictor(good_run.run_dir)


def _metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (labels in any order)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no {name}{labels} in /metrics")


def test_probes_metrics_and_request_ids(predictor):
    with TestClient(create_app(predictor=predictor)) as client:
        assert client.get("/livez").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        mine = client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")}, headers={"X-Request-ID": "abc-1"})
        assert mine.status_code == 200 and mine.headers["x-request-id"] == "abc-1"  # the client's, echoed
        made = client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")}, headers={"X-Request-ID": "a b"})
        assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"] != "a b"  # unusable: ours
        client.post("/predict", content=b"{", headers={"content-type": "application/json"})
        text = client.get("/metrics").text
    assert _metric(text, "digitrec_requests_total", route="/predict", method="POST", status="200") == 2
    assert _metric(text, "digitrec_requests_total", route="/predict", method="POST", status="400") == 1
    assert _metric(text, "digitrec_request_duration_seconds_count", route="/predict") == 3
    assert _metric(text, "digitrec_request_duration_seconds_bucket", route="/predict", le="30.0") == 3
    for name in ("digitrec_queue_depth", "digitrec_workers_busy", "digitrec_worker_restarts_total"):
        assert _metric(text, name) == 0
    assert _metric(text, "digitrec_workers") >= 1 and _metric(text, "digitrec_rejected_total") == 0


def test_readyz_says_draining_once_a_stop_has_begun(predictor):
    app = create_app(predictor=predictor)
    with TestClient(app) as client:
        app.state.draining = True
        answer = client.get("/readyz")
        assert (answer.status_code, answer.json()) == (503, {"status": "draining"})
        assert client.get("/livez").status_code == 200  # alive, only not taking new work
        head = client.head("/readyz")  # an uptime monitor's HEAD: the status, no body
        assert (head.status_code, head.content) == (503, b"")
        assert [client.head(path).status_code for path in ("/livez", "/health")] == [200, 200]


def test_the_access_log_is_one_json_object_a_line(predictor, capsys):
    app = create_app(predictor=predictor, access_log="json")
    with TestClient(app) as client:
        client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")}, headers={"X-Request-ID": "req-42"})
        client.get("/nowhere")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["method"], e["route"], e["status"]) for e in lines] == [
        ("POST", "/predict", 200),
        ("GET", "unmatched", 404),
    ]
    first = lines[0]
    assert first["request_id"] == "req-42" and first["model"] == predictor.choice.name and first["latency_ms"] > 0
    assert first["time"].endswith("Z") and first["path"] == "/predict"


def test_the_text_access_log_names_the_request(predictor, capsys):
    with TestClient(create_app(predictor=predictor, access_log="text")) as client:
        client.get("/livez", headers={"X-Request-ID": "r1"})
    (line,) = capsys.readouterr().out.splitlines()
    assert '"GET /livez" 200 ' in line and line.endswith(" id=r1")


def test_a_chunked_body_over_the_limit_is_413_like_a_declared_one(predictor):
    app = create_app(predictor=predictor, limits=Limits(max_body_bytes=1000))

    def chunks():  # no Content-Length: the size shows only as it streams
        for _ in range(20):
            yield b"x" * 100

    with TestClient(app) as client:
        for ctype in ("application/json", "multipart/form-data; boundary=b"):
            answer = client.post("/predict", content=chunks(), headers={"content-type": ctype})
            assert answer.status_code == 413, answer.text
            assert answer.json() == {"detail": "request body over 1,000 bytes"}
        declared = client.post("/predict", content=b"x" * 2000, headers={"content-type": "application/json"})
        assert declared.status_code == 413


def test_json_with_far_more_values_than_images_hold_is_413_unparsed(predictor, monkeypatch):
    import json as json_module

    from digitrec.web import inputs

    parsed, real = [], json_module.loads

    def loads(raw):  # the service's parses of request bodies (the test's own reading of answers aside)
        if b'"detail"' not in raw:
            parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(inputs.json, "loads", loads)
    with TestClient(create_app(predictor=predictor, limits=Limits(max_batch=2))) as client:
        one = {"pixels": [[0] * 28] * 28}
        assert client.post("/predict", json=one).status_code == 200  # 28x28 fits
        assert client.post("/predict/batch", json={"images": [one, one]}).status_code == 200
        flood = client.post("/predict", json={"pixels": [0] * 3000})
        many = client.post("/predict/batch", json={"images": [one] * 4})
    assert flood.status_code == 413 and flood.json()["detail"] == (
        "too many values: one image of 28x28 numbers per request (send several to /predict/batch)"
    )
    assert many.status_code == 413 and len(parsed) == 2  # the two refused were never parsed


def test_a_full_line_is_503_with_retry_after_and_counted(predictor):
    app = create_app(predictor=predictor, max_queue=0)
    backend = app.state.backend
    with TestClient(app) as client:
        backend.admitted = backend.capacity  # every worker taken, and no room to wait
        busy = client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")})
        backend.admitted = 0
        free = client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")})
        text = client.get("/metrics").text
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
    assert free.status_code == 200 and _metric(text, "digitrec_rejected_total") == 1
    assert _metric(text, "digitrec_requests_total", route="/predict", method="POST", status="503") == 1
    assert _metric(text, "digitrec_requests_in_progress") == 0  # each place given back


def test_a_bug_in_the_server_is_a_500_not_the_clients_400(predictor, monkeypatch):
    from digitrec.web import app as web_app

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(web_app, "read_images", broken)  # in the framework's routes
    app = create_app(predictor=predictor)
    with TestClient(app, raise_server_exceptions=False) as client:
        # A query takes /predict through the framework; a plain upload is answered before it
        # (`web.lean`), here with the job itself broken.
        framework = client.post("/predict?preprocessed=false", files={"file": ("7.png", SEVEN, "image/png")})
        monkeypatch.setattr(app.state.backend, "run", broken)
        lean = client.post("/predict", files={"file": ("7.png", SEVEN, "image/png")})
    for answer in (framework, lean):
        assert answer.status_code == 500
        assert answer.json()["detail"] == "the server failed on this request (RuntimeError)"
        assert len(answer.headers["x-request-id"]) == 32


def test_the_service_reads_a_plain_upload_on_the_lean_path_and_the_rest_through_the_framework(predictor, monkeypatch):
    from digitrec.web import app as web_app

    async def framework_reading(*args, **kwargs):  # the framework's routes read the request with it
        raise RuntimeError("read by the framework")

    monkeypatch.setattr(web_app, "read_images", framework_reading)
    upload = {"file": ("seven.png", SEVEN, "image/png")}
    with TestClient(create_app(predictor=predictor), raise_server_exceptions=False) as client:
        plain = client.post("/predict", files=upload)
        raw = client.post("/predict", content=SEVEN, headers={"content-type": "image/png"})
        with_query = client.post("/predict?preprocessed=false", files=upload)
    assert plain.status_code == 200 and plain.json()["file"] == "seven.png" and plain.json()["digit"] == 7
    assert raw.status_code == 200 and raw.json()["file"] is None and raw.json()["digit"] == 7
    assert with_query.status_code == 500  # the framework's path, its reading broken here


# ---------------------------------------------------------------- the real service, under faults


def _post(url: str, body: bytes, ctype: str, timeout: float = 30) -> int:
    request = urllib.request.Request(url + "/predict", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_real_service_loses_nothing_when_workers_die_or_hang_and_drains_on_sigterm(good_run):
    """Four clients post photos while one worker is SIGKILLed and the other SIGSTOPped (job
    timeout 1 s): every request is answered 200, the pool is whole again and /metrics shows the
    restarts and the timeout. Then SIGTERM with requests in flight: each is answered, the
    service exits 0 and leaves no worker behind. Its log (--log-format json) is JSON throughout."""
    from tests.support.serverproc import Server, multipart

    body, ctype = multipart([("seven.png", "image/png", SEVEN)])
    args = ("--model", str(good_run.run_dir), "--workers", "2", "--job-timeout", "1", "--max-batch", "32")
    args += ("--log-format", "json")  # and every line it writes, whatever happens, is one JSON object
    with Server(*args) as server:
        statuses: list[int] = []
        stop = threading.Event()

        def client():
            while not stop.is_set() and len(statuses) < 2000:  # bounded
                statuses.append(_post(server.url, body, ctype))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        first, second = child_pids(server.process.pid)
        os.kill(first, signal.SIGKILL)
        os.kill(second, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
                text = r.read().decode()
            if _metric(text, "digitrec_worker_restarts_total") >= 2 and _metric(text, "digitrec_workers_ready") == 2:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # traffic on the mended pool
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert _metric(text, "digitrec_job_timeouts_total") == 1 and _metric(text, "digitrec_worker_deaths_total") >= 1
        assert _metric(text, "digitrec_request_duration_seconds_count", route="/predict") > 0
        workers = child_pids(server.process.pid)
        assert len(workers) == 2 and not {first, second} & set(workers)

        # SIGTERM with requests in flight: each is answered; nothing is left running. Batches of
        # 32 images keep the two workers busy for a while (a second or so for the six).
        batch, batch_type = multipart([(f"{k}.png", "image/png", SEVEN) for k in range(32)], field="files")
        connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in range(6)]
        for conn in connections:
            conn.request("POST", "/predict/batch", body=batch, headers={"Content-Type": batch_type})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
                now = r.read().decode()
            taken = _metric(now, "digitrec_requests_in_progress")
            done = sum(_metric(now, "digitrec_requests_total", route="/predict/batch", method="POST", status=str(code))
                       for code in (200,) if "/predict/batch" in now)  # fmt: skip
            if taken + done >= 6:  # all six read by the server: in flight, or answered already
                break
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        answered = []
        for conn in connections:
            response = conn.getresponse()
            answered.append((response.status, len(json.loads(response.read())["predictions"])))
            conn.close()
        assert server.process.wait(timeout=15) == 0
        output = server.close()
    assert answered == [(200, 32)] * 6
    entries = [json.loads(line) for line in output.splitlines()]
    assert [e["route"] for e in entries if e.get("status") == 200].count("/predict/batch") == 6  # the access log
    said = [(e["level"], e["message"]) for e in entries if "message" in e]
    assert said[0] == (
        "info",
        f"digitrec serve: http://127.0.0.1:{server.port}/  (2 workers; API docs at /docs; Ctrl-C stops)",
    )
    assert said[-1] == ("info", "digitrec serve: stopped")
    assert ("error", f"digitrec serve: a job ran past 1 s; its worker (pid {second}) was killed") in said
    for pid in workers:  # the workers left with it
        assert process_state(pid) in ("Z", "gone")


def test_workers_leave_when_the_service_is_killed(good_run):
    """SIGKILL of the service itself (no drain possible): its workers read the end of their
    sockets and exit; none is left orphaned."""
    from tests.support.serverproc import Server

    with Server("--model", str(good_run.run_dir), "--workers", "2") as server:
        workers = child_pids(server.process.pid)
        assert len(workers) == 2
        server.process.kill()
        server.process.wait(timeout=10)
        deadline = time.monotonic() + 20
        ended = ("Z", "X", "gone")
        while time.monotonic() < deadline and any(process_state(pid) not in ended for pid in workers):
            time.sleep(0.05)
        assert not [pid for pid in workers if process_state(pid) not in ended]
