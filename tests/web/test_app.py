"""The web service: API through FastAPI's test client, a real `digitrec serve` on loopback, the
drawing page in a real browser (Playwright driving Debian's Chromium), and the exports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.support.helpers import IN_CI, draw_digit, need, run_cli
from tests.support.serverproc import CHROMIUM, Server, child_pids, launch_chromium, multipart, process_state
from tests.support.xdriver import PEOPLE_MARKS, drawn

pytest.importorskip("fastapi") if not IN_CI else None
from fastapi.testclient import TestClient  # noqa: E402

from digitrec.reading.predictor import Predictor  # noqa: E402
from digitrec.web import Limits, create_app  # noqa: E402


def _playwright():
    """Playwright's sync API: skipped where it is not installed, a failure in CI (one IN_CI)."""
    try:
        import playwright.sync_api
    except ImportError:
        need(False, "playwright")  # skips or fails: never returns
        raise
    return playwright.sync_api


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def predictor(good_run):
    return Predictor(good_run.run_dir)


LIMITS = Limits(max_body_bytes=2_000_000, max_pixels=4_000_000, max_batch=4)


@pytest.fixture(scope="module", params=["threads", "2 workers"])
def client(request, predictor, good_run):
    """The API in both modes: predictions in the server's threads, and in worker processes."""
    if request.param == "threads":
        yield TestClient(create_app(predictor=predictor, limits=LIMITS))
    else:
        with TestClient(create_app(model=str(good_run.run_dir), limits=LIMITS, workers=2)) as client:
            yield client


def test_predict_an_upload(client):
    r = client.post("/predict", files={"file": ("seven.png", png(draw_digit("7")), "image/png")})
    assert r.status_code == 200
    body = r.json()
    assert body["file"] == "seven.png" and body["digit"] == 7 and len(body["probabilities"]) == 10
    assert body["confidence"] == max(body["probabilities"])
    r = client.post(
        "/predict?preprocessed=true", files={"file": ("one.jpg", png(draw_digit("1"), "JPEG"), "image/jpeg")}
    )
    assert r.json()["digit"] == 1 and np.array(r.json()["preprocessed"]).shape == (28, 28)


def test_predict_an_image_sent_as_the_body(client):
    seven = png(draw_digit("7"))
    form = client.post("/predict", files={"file": ("seven.png", seven, "image/png")}).json()
    for ctype in ("image/png", "application/octet-stream", "image/jpeg"):  # the bytes decide the format
        raw = client.post("/predict", content=seven, headers={"content-type": ctype})
        assert raw.status_code == 200, raw.text
        assert raw.json()["probabilities"] == form["probabilities"] and raw.json()["file"] is None
    number = client.post("/predict/number", content=png(draw_digit("4")), headers={"content-type": "image/png"})
    assert number.status_code == 200 and number.json()["number"] == "4"
    empty = client.post("/predict", content=b"", headers={"content-type": "image/png"})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    batch = client.post("/predict/batch", content=seven, headers={"content-type": "image/png"})
    assert batch.status_code == 415 and "multipart/form-data" in batch.json()["detail"]


def test_predict_json_pixels(client, mnist):
    right = 0
    for i in range(10):
        r = client.post("/predict", json={"pixels": mnist.x_test[i, ..., 0].tolist()})  # 0-255
        assert r.status_code == 200
        right += r.json()["digit"] == int(mnist.y_test[i])
    assert right >= 9
    r = client.post("/predict", json={"pixels": (mnist.x_test[0, ..., 0] / 255).tolist()})  # 0-1
    assert r.json()["digit"] == 7


def test_no_digit_has_a_reason(client):
    blank = Image.new("L", (200, 200), 230)
    body = client.post("/predict", files={"file": ("blank.png", png(blank), "image/png")}).json()
    assert body["digit"] is None and "no ink" in body["reason"]


def test_explain_says_which_pixels_and_what_each_layer_saw(client):
    seven = png(draw_digit("7"))
    r = client.post("/explain", files={"file": ("seven.png", seven, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    attribution = np.array(body["attribution"])
    assert body["file"] == "seven.png" and body["digit"] == body["answer"] == 7
    assert attribution.shape == (28, 28) and attribution.min() >= 0 and abs(attribution.sum() - 1) < 1e-3
    assert np.array(body["input"]).shape == (28, 28) and all("maps" not in layer for layer in body["layers"])
    r = client.post("/explain?digit=3&maps=true", files={"file": ("seven.png", seven, "image/png")})
    body = r.json()
    assert r.status_code == 200 and body["digit"] == 3 and body["answer"] == 7
    first = body["layers"][0]
    assert np.array(first["maps"]).shape == (min(8, first["shape"][2]), first["shape"][0], first["shape"][1])
    assert client.post("/explain?digit=12", files={"file": ("seven.png", seven, "image/png")}).status_code == 422
    assert client.post("/explain", files={"file": ("x.png", b"not an image", "image/png")}).status_code == 422


def test_nothing_is_explained_for_an_image_without_a_digit(client):
    """A blank page, an upload or 28x28 pixels, has no map and no "why": the answer's verdict alone."""
    blank = png(Image.new("L", (200, 200), 255))
    for request in ({"files": {"file": ("blank.png", blank, "image/png")}}, {"json": {"pixels": [[0] * 28] * 28}}):
        r = client.post("/explain?maps=true", **request)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["digit"] is None and body["answer"] is None and body["no_digit"] == "no ink"
        assert body["reason"].startswith("no ink found") and not {"attribution", "input", "layers"} & set(body)


def test_number_and_batch(client):
    row = Image.new("L", (700, 260), 235)
    for k, d in enumerate("170"):
        row.paste(draw_digit(d, size=(200, 240)), (20 + 215 * k, 10))
    body = client.post("/predict/number", files={"file": ("n.png", png(row), "image/png")}).json()
    assert [int(np.argmax(d["probabilities"])) for d in body["digits"]] == [1, 7, 0]
    assert body["number"] is not None or body["reason"].startswith("digit ")  # the tutorial model may doubt a 0
    from digitrec.store import PRETRAINED

    with TestClient(create_app(model=str(PRETRAINED.parent), limits=LIMITS)) as shipped:  # reads all three
        body = shipped.post("/predict/number", files={"file": ("n.png", png(row), "image/png")}).json()
    assert body["number"] == "170" and "reason" not in body, body
    files = [
        ("files", ("a.png", png(draw_digit("1")), "image/png")),
        ("files", ("b.png", png(draw_digit("7")), "image/png")),
        ("files", ("bad.png", b"not an image", "image/png")),
    ]
    body = client.post("/predict/batch", files=files).json()
    assert [p.get("digit") for p in body["predictions"][:2]] == [1, 7]
    assert "not an image" in body["predictions"][2]["error"]
    body = client.post("/predict/batch", json={"images": [{"pixels": [[0] * 28] * 28}] * 2}).json()
    assert len(body["predictions"]) == 2


def test_health_and_model(client, good_run):
    assert client.get("/health").json()["model_loaded"] is True
    info = client.get("/model").json()
    assert info["format"] == "tflite" and info["dataset"] == "mnist" and 0.9 < info["test_accuracy"] <= 1
    assert info["versions"]["keras"].startswith("3.")
    # A run folder answers from its LiteRT file, in both modes, and every answer names the run.
    assert (info["name"], info["backend"], info["model"]) == (good_run.run_dir.name, "litert", "seed_cnn")
    r = client.post("/predict", files={"file": ("seven.png", png(draw_digit("7")), "image/png")})
    assert r.json()["model"] == good_run.run_dir.name


def test_the_page_and_its_files_are_served_and_nothing_else(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "/static/app.js" in page.text
    assert "http" not in page.text.split("<main>")[0].replace('name="viewport"', "")  # no CDN
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    for path in ("/static/..%2Fapp.py", "/static/../app.py", "/static/nothing.js", "/static/%2e%2e%2f__init__.py"):
        assert client.get(path).status_code == 404, path
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"] and "examples" in json.dumps(schema["paths"]["/predict"])


@pytest.mark.parametrize(
    "kwargs, status, detail",
    [
        ({"files": {"file": ("x.png", b"hello, not an image", "image/png")}}, 422, "not an image"),
        ({"files": {"file": ("x.png", b"", "image/png")}}, 422, "empty (0 bytes)"),
        ({"files": {"file": ("x.png", png(draw_digit("7"))[:300], "image/png")}}, 422, "truncated"),
        ({"files": {"other": ("x.png", png(draw_digit("7")), "image/png")}}, 422, "no image in the form"),
        ({"content": b"plain words", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        (
            {"content": b"[" * 100000 + b"]" * 100000, "headers": {"content-type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ({"json": {"pixels": [[0] * 27] * 28}}, 422, "28 rows"),
        ({"json": {"pixels": "a picture"}}, 422, "28 rows"),
        (
            {
                "content": json.dumps({"pixels": [[float("nan")] * 28] * 28}).encode(),
                "headers": {"content-type": "application/json"},
            },
            422,
            "finite",
        ),
        ({"files": {"file": ("big.png", png(Image.new("L", (2100, 2000), 255)), "image/png")}}, 422, "too large"),
        ({"content": b"x" * 2_100_000, "headers": {"content-type": "application/octet-stream"}}, 413, "over"),
        (
            {"files": [("file", ("a.png", png(draw_digit("1")), "image/png"))] * 2},
            413,
            "one image per request (send several to /predict/batch)",
        ),
    ],
)
def test_bad_requests_are_4xx_json(client, kwargs, status, detail):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


def test_batch_limit(client):
    files = [("files", (f"{i}.png", png(draw_digit("1")), "image/png")) for i in range(5)]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 413 and r.json()["detail"] == "at most 4 images per request"


def test_a_real_server_on_loopback(good_run):
    with Server("--model", str(good_run.run_dir)) as server:
        body, ctype = multipart([("seven.png", "image/png", png(draw_digit("7")))])
        request = urllib.request.Request(server.url + "/predict", data=body, headers={"Content-Type": ctype})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert json.loads(r.read())["digit"] == 7
        junk = urllib.request.Request(
            server.url + "/predict", data=b"\x00" * 5000, headers={"Content-Type": "image/png"}
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(junk, timeout=30)
        assert err.value.code == 422  # read as an image's bytes: not one
        raw = urllib.request.Request(
            server.url + "/predict", data=png(draw_digit("7")), headers={"Content-Type": "image/png"}
        )
        with urllib.request.urlopen(raw, timeout=30) as r:
            assert json.loads(r.read())["digit"] == 7
        with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        assert server.alive()


def test_a_real_server_with_the_shipped_litert_model_under_concurrent_uploads():
    """What a new user serves: the shipped LiteRT model, many requests at once (its interpreter
    is shared by the server's threads; unguarded, concurrent uploads got 400s and resets)."""
    from concurrent.futures import ThreadPoolExecutor

    from digitrec.store import PRETRAINED

    lite = PRETRAINED.with_suffix(".tflite")
    need(lite.is_file(), "the shipped LiteRT model (make pretrained)")
    uploads = [
        multipart([(f"{d}.png", "image/png", png(draw_digit(d, size=(200 + 20 * k, 260))))])
        for k in range(3)
        for d in ("1", "7", "0")
    ]

    def post(i):
        body, ctype = uploads[i % len(uploads)]
        request = urllib.request.Request(server.url + "/predict", data=body, headers={"Content-Type": ctype})
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())["digit"]

    with Server("--model", str(lite)) as server, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(64)))
        body, ctype = multipart([("H.png", "image/png", png(drawn(PEOPLE_MARKS["H"])))])
        request = urllib.request.Request(server.url + "/predict", data=body, headers={"Content-Type": ctype})
        with urllib.request.urlopen(request, timeout=30) as r:
            letter = json.loads(r.read())
        assert server.alive()
    assert answers == [(200, int("170"[i % 3])) for i in range(64)]
    assert letter["digit"] is None and letter["no_digit"] == "not a digit" and letter["not_digit_score"] > 0.5


def test_serve_refuses_bad_options_in_one_line(tmp_path):
    proc = run_cli("serve", "--max-batch", "0")
    assert proc.returncode == 2 and "--max-batch: must be at least 1, not 0" in proc.stderr
    proc = run_cli("serve", "--model", str(tmp_path / "none.keras"))
    assert proc.returncode == 1 and "no model at" in proc.stderr and "Traceback" not in proc.stderr


def test_the_drawing_page_in_a_real_browser(good_run, tmp_path):
    need(os.path.exists(CHROMIUM), "Debian's chromium")
    playwright = _playwright()
    with Server("--model", str(good_run.run_dir)) as server, playwright.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 700, "height": 520})
        page.goto(server.url + "/")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        for k in range(1, 21):
            page.mouse.move(box["x"] + 138, box["y"] + 40 + 10 * k)
        page.mouse.up()
        page.wait_for_function("document.getElementById('answer').textContent === '1'", timeout=20000)
        assert page.title().startswith("digitrec — 1")
        assert page.locator("#modelName").text_content() == f"model: run {good_run.run_dir.name} (LiteRT)"
        assert page.locator(".bar.best").get_attribute("data-digit") == "1"
        page.screenshot(path=str(tmp_path / "page.png"))
        page.click("#clear")
        page.wait_for_function("document.getElementById('answer').getAttribute('aria-busy') === 'false'")
        assert page.locator("#answer").text_content() == "…"
        # A reading under way when the pad is cleared is not shown on the blank pad when it comes.
        held: list = []
        page.route("**/predict?*", lambda route: held.append(route))
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        for k in range(1, 21):
            page.mouse.move(box["x"] + 138, box["y"] + 40 + 10 * k)
        page.mouse.up()
        for _ in range(100):  # until the browser has sent it
            if held:
                break
            page.wait_for_timeout(50)
        assert held and page.locator("#answer").get_attribute("aria-busy") == "true"
        page.click("#clear")
        with page.expect_response("**/predict?*"):
            held.pop().continue_()
        page.wait_for_function("document.getElementById('answer').getAttribute('aria-busy') === 'false'")
        assert page.locator("#answer").text_content() == "…" and not held
        page.unroute("**/predict?*")
        # Upload a file through the page's button: the same API, the original image.
        (tmp_path / "seven.png").write_bytes(png(draw_digit("7")))
        page.set_input_files("#file", str(tmp_path / "seven.png"))
        page.wait_for_function("document.getElementById('answer').textContent === '7'", timeout=20000)
        # Inside the network: the pixels behind the 7 in red, each layer's maps; a bar asks "why not 3?".
        page.check("#inside")
        page.wait_for_function("document.body.dataset.inside === '7'", timeout=60000)
        red = page.evaluate(
            """() => { const d = document.getElementById('attribution').getContext('2d')
                          .getImageData(0, 0, 168, 168).data;
                       let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60) n++; return n; }"""
        )
        assert red > 100 and page.locator("#layers .layer").count() >= 2
        assert page.locator("#layers .layer").first.locator("canvas").count() == 8
        page.locator('.bar[data-digit="3"]').click()
        page.wait_for_function("document.body.dataset.inside === '3'", timeout=60000)
        assert page.locator("#why").text_content() == "why not 3?"
        page.screenshot(path=str(tmp_path / "inside.png"), full_page=True)
        # A blank page: no digit, and nothing to explain (no map of nothing).
        Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
        page.set_input_files("#file", str(tmp_path / "blank.png"))
        page.wait_for_function("document.body.dataset.inside === 'none'", timeout=60000)
        assert page.locator("#answer").text_content() == "?"
        assert page.locator("#why").text_content().startswith("nothing to explain: no ink found")
        assert page.locator("#layers .layer").count() == 0
        # A file that is no image: the error, and nothing of the last answer beside it.
        (tmp_path / "junk.png").write_bytes(b"not an image at all")
        page.set_input_files("#file", str(tmp_path / "junk.png"))
        page.wait_for_function("document.getElementById('answer').textContent === '!'", timeout=20000)
        widths = page.eval_on_selector_all(".bar .fill", "fills => fills.map(f => f.style.width)")
        assert widths == ["0%"] * 10 and page.locator("#why").text_content() == ""
        side, pad = page.locator(".side").bounding_box(), page.locator("#pad").bounding_box()
        assert side["x"] > pad["x"] + pad["width"]  # the panel stays beside the canvas
        browser.close()
    assert (tmp_path / "page.png").stat().st_size > 5000


def test_api_docs_render_without_internet(good_run):
    """/docs is Swagger UI from the package's own files: in Chromium with every request beyond
    this server refused, the page lists the routes."""
    need(os.path.exists(CHROMIUM), "Debian's chromium")
    playwright = _playwright()
    outside: list[str] = []
    with Server("--model", str(good_run.run_dir), "--workers", "1") as server, playwright.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()

        def offline(route):
            if route.request.url.startswith(server.url):
                route.continue_()
            else:  # the internet is not there
                outside.append(route.request.url)
                route.abort("internetdisconnected")

        page.route("**/*", offline)
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30000)
        paths = page.locator(".opblock-summary-path").all_text_contents()
        browser.close()
    assert {"/predict", "/predict/number", "/predict/batch", "/explain", "/health", "/model"} <= {
        p.replace("\u200b", "") for p in paths
    }
    assert outside == []


def test_ctrl_c_stops_a_server_with_idle_connections_and_says_so(good_run):
    """Ctrl-C on a `serve` that has answered requests, with keep-alive connections left open:
    it stops (the test waits at most 20 s; `benchmarks/serve_stop.py` times it) and says so."""
    import http.client
    import signal

    with Server("--model", str(good_run.run_dir), "--workers", "2") as server:
        idle = []
        for _ in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", "/health")
            assert connection.getresponse().read()
            idle.append(connection)
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(timeout=20)
        said = server.output()
    assert code == 0 and said.rstrip().endswith("digitrec serve: stopped") and "Traceback" not in said
    for connection in idle:
        connection.close()


def test_several_workers_serve_the_same_model(good_run, predictor):
    from concurrent.futures import ThreadPoolExecutor

    with Server("--model", str(good_run.run_dir), "--workers", "2") as server:
        uploads = [multipart([(f"{d}.png", "image/png", png(draw_digit(d, size=(200, 260))))]) for d in "17"] * 4

        def ask(upload):
            body, ctype = upload
            request = urllib.request.Request(server.url + "/predict", data=body, headers={"Content-Type": ctype})
            with urllib.request.urlopen(request, timeout=30) as r:
                return json.loads(r.read())

        with ThreadPoolExecutor(8) as clients:  # eight at once: the jobs queue for the two workers
            answers = list(clients.map(ask, uploads))
        # each answer to its own request, the same as this process's own predictor gives
        expected = [predictor.predict_image(draw_digit(d, size=(200, 260))) for d in "17"] * 4
        assert [a["file"] for a in answers] == ["1.png", "7.png"] * 4 and answers[0]["digit"] == 1
        assert [a["digit"] for a in answers] == [e.digit for e in expected]
        assert np.allclose([a["probabilities"] for a in answers], [e.probabilities for e in expected], atol=1e-4)
        with urllib.request.urlopen(server.url + "/model", timeout=5) as r:
            assert json.loads(r.read())["file"] == "model.tflite"  # the run's LiteRT file, in every worker
        with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
            assert json.loads(r.read())["model_loaded"] is True
        request = urllib.request.Request(
            server.url + "/predict", data=b"not an image", headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(request, timeout=30)
        assert 400 <= bad.value.code < 500
        children = child_pids(server.process.pid)  # the two workers
    assert len(children) == 2
    for _ in range(50):  # stopping the server stops its workers
        left = [pid for pid in children if process_state(pid) not in ("Z", "gone")]
        if not left:
            break
        time.sleep(0.1)
    assert not left


def test_plain_serve_runs_one_worker_per_usable_cpu_and_names_its_model(good_run):
    from digitrec.web.limits import usable_cpus

    with Server("--runs-root", str(good_run.run_dir.parent)) as server:
        output = server.output()
    cores = len(os.sched_getaffinity(0))  # this machine sets no cgroup CPU quota
    assert usable_cpus() == cores
    assert f"using run {good_run.run_dir.name} (LiteRT" in output
    assert f"({cores} worker{'s' if cores > 1 else ''};" in output
    help_text = subprocess.run(
        [sys.executable, "-m", "digitrec", "serve", "--help"], capture_output=True, text=True
    ).stdout
    assert f"one per usable CPU, {cores} here" in " ".join(help_text.split())


def test_every_get_route_answers_head_with_its_status_and_no_body(client):
    """HTTP asks a server to answer HEAD wherever it answers GET (`curl -I`, uptime monitors): the
    page, /model, /metrics and the docs answered 405."""
    for path in ("/", "/model", "/metrics", "/docs", "/static/app.js", "/livez", "/readyz", "/openapi.json"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
    assert client.head("/static/nosuch.js").status_code == 404
    assert client.head("/predict").status_code == 405  # a POST route stays one
