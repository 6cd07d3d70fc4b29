"""The hot routes without the framework (`web.lean`): which requests it answers itself, with what
job, and that it hands everything else to the app with its body, as the app would have read it."""

from __future__ import annotations

import json

import pytest

from tests.support.helpers import IN_CI

pytest.importorskip("fastapi") if not IN_CI else None
from fastapi.testclient import TestClient  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402

from digitrec.web.lean import LeanRoutes, form_files  # noqa: E402

BOUNDARY = "lean-test-boundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts: tuple[bytes, bytes], end: bool = True) -> bytes:
    """A multipart body from (Content-Disposition's options, content) parts."""
    body = b"".join(
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; " + options + b"\r\n"
        b"Content-Type: image/png\r\n\r\n" + content + b"\r\n"
        for options, content in parts
    )
    return body + (b"--" + BOUNDARY.encode() + b"--\r\n" if end else b"")


def test_a_form_of_files_gives_their_names_and_bytes():
    body = form((b'name="file"; filename="seven.png"', b"\x89PNG seven\r\n--not-a-boundary"))
    assert form_files(CTYPE.encode(), body, 1) == [("seven.png", b"\x89PNG seven\r\n--not-a-boundary")]
    two = form((b'name="files"; filename="a.png"', b"A"), (b'name="file"; filename=""', b"B"))
    assert form_files(CTYPE.encode(), two, 4) == [("a.png", b"A"), (None, b"B")]  # no name: None, as the app has it
    typed_first = (
        f"--{BOUNDARY}\r\nContent-Type: image/png\r\n"
        f'Content-Disposition: form-data; name="file"; filename="t.png"\r\n\r\nT\r\n--{BOUNDARY}--\r\n'
    ).encode()
    assert form_files(CTYPE.encode(), typed_first, 1) == [("t.png", b"T")]  # each header read on its own
    utf8 = form((b'name="file"; filename="z\xc3\xa9.png"', b""))
    latin1 = form((b'name="file"; filename="z\xe9.png"', b"x"))
    assert form_files(CTYPE.encode(), utf8, 1) == [("z\u00e9.png", b"")]
    assert form_files(CTYPE.encode(), latin1, 1) == [("z\u00e9.png", b"x")]  # not UTF-8: Latin-1, as the app reads it


@pytest.mark.parametrize(
    "ctype, body",
    [
        (CTYPE, form((b'name="file"; filename="a.png"', b"A"), (b'name="file"; filename="b.png"', b"B"))),  # over 1
        (CTYPE, form((b'name="file"; filename="a.png"', b"A"), (b'name="note"', b"a text field"))),
        (CTYPE, form((b'name="other"; filename="a.png"', b"A"))),
        (CTYPE, form((b'name="file"', b"A"))),  # a field, not a file
        (CTYPE, form((b'name="file"; filename="a.png"', b"A"), end=False)),  # no closing boundary
        (CTYPE, b""),
        (CTYPE, f"--{BOUNDARY}--\r\n".encode()),  # a form with nothing in it
        (CTYPE, b"no multipart at all"),
        ("multipart/form-data", form((b'name="file"; filename="a.png"', b"A"))),  # no boundary
        (CTYPE + "; charset=latin-1", form((b'name="file"; filename="a.png"', b"A"))),
    ],
)
def test_a_form_that_is_not_plain_files_is_left_to_the_framework(ctype, body):
    assert form_files(ctype.encode(), body, 1) is None


class Backend:
    """Answers a job with what it was given; `fail` makes it raise, as a bug would."""

    def __init__(self, fail: bool = False):
        self.jobs: list[tuple] = []
        self.fail = fail

    async def run(self, kind, *args, gone=None):
        self.jobs.append((kind, *args))
        if self.fail:
            raise RuntimeError("a bug at /secret/path")
        assert await gone() is False  # the client is still there
        files = args[0] if kind == "batch" else [args[:2]]
        return Response(json.dumps([[n, d.decode()] for n, d in files]), media_type="application/json")


@pytest.fixture
def lean():
    """A LeanRoutes in front of an app that answers 299 with the body it read."""
    backend = Backend()

    async def framework(scope, receive, send):
        request = Request(scope, receive)
        await JSONResponse({"framework": (await request.body()).decode(errors="replace")}, 299)(scope, receive, send)

    return TestClient(LeanRoutes(framework, backend, max_batch=3)), backend


def test_plain_uploads_are_answered_by_the_job_without_the_framework(lean):
    client, backend = lean
    r = client.post("/predict", files={"file": ("seven.png", b"SEVEN", "image/png")})
    assert r.status_code == 200 and r.json() == [["seven.png", "SEVEN"]]
    r = client.post("/predict", content=b"RAW", headers={"content-type": "image/png"})
    assert r.json() == [[None, "RAW"]]
    r = client.post("/predict", content=b"RAW", headers={"content-type": "Application/Octet-Stream; x=1"})
    assert r.json() == [[None, "RAW"]]
    files = [("files", (f"{k}.png", str(k).encode(), "image/png")) for k in range(3)]
    assert client.post("/predict/batch", files=files).json() == [["0.png", "0"], ["1.png", "1"], ["2.png", "2"]]
    assert [job[0] for job in backend.jobs] == ["one", "one", "one", "batch"]
    assert backend.jobs[0][3] is False  # /predict's `preprocessed`, off


@pytest.mark.parametrize(
    "path, kwargs",
    [
        ("/predict?preprocessed=true", {"files": {"file": ("a.png", b"A", "image/png")}}),
        ("/predict", {"files": {"file": ("a.png", b"A", "image/png")}, "data": {"note": "text"}}),
        ("/predict", {"files": [("file", ("a.png", b"A", "image/png"))] * 2}),
        ("/predict/batch", {"files": [("files", ("a.png", b"A", "image/png"))] * 4}),  # over max_batch
        ("/predict", {"content": b"", "headers": {"content-type": "image/png"}}),
        ("/predict/batch", {"content": b"RAW", "headers": {"content-type": "image/png"}}),
        ("/predict", {"json": {"pixels": [[0] * 28] * 28}}),
        ("/predict", {"content": b"words", "headers": {"content-type": "text/plain"}}),
        *(  # a form's body under another type, one sorted after "multipart/…" and one before
            ("/predict", {"content": form((b'name="file"; filename="a.png"', b"A")), "headers": {"content-type": t}})
            for t in (f"text/plain; boundary={BOUNDARY}", f"application/json; boundary={BOUNDARY}")
        ),
        ("/predict/number", {"files": {"file": ("a.png", b"A", "image/png")}}),
        ("/explain", {"files": {"file": ("a.png", b"A", "image/png")}}),
    ],
)
def test_every_other_request_reaches_the_framework_with_its_body(lean, path, kwargs):
    client, backend = lean
    sent = client.build_request("POST", path, **kwargs)
    r = client.send(sent)
    assert r.status_code == 299 and r.json()["framework"] == sent.read().decode(errors="replace")
    assert backend.jobs == []


def test_other_methods_and_routes_pass_untouched(lean):
    client, backend = lean
    assert client.get("/predict").json() == {"framework": ""}
    for method in ("PUT", "PATCH"):
        answer = client.request(method, "/predict", content=b"RAW", headers={"content-type": "image/png"})
        assert answer.json() == {"framework": "RAW"}
    assert client.post("/health", content=b"x").json() == {"framework": "x"}
    assert backend.jobs == []


def test_a_lifespan_or_websocket_scope_goes_to_the_app_as_it_came():
    import asyncio

    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    async def nothing():
        return {}

    lean = LeanRoutes(app, Backend(), max_batch=3)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/predict", "query_string": b"", "headers": []}):
        asyncio.run(lean(scope, nothing, nothing))
    assert [scope["type"] for scope in seen] == ["lifespan", "websocket"]


def test_the_body_is_replayed_once_then_the_client_is_heard_again():
    import asyncio

    from digitrec.web.lean import _replay

    async def client():
        return {"type": "http.disconnect"}

    async def twice():
        receive = _replay(b"BODY", client)
        return [await receive(), await receive()]

    first, second = asyncio.run(twice())
    assert first == {"type": "http.request", "body": b"BODY", "more_body": False}
    assert second == {"type": "http.disconnect"}


def test_a_bug_in_the_job_is_a_json_500_naming_only_its_kind():
    async def framework(scope, receive, send):  # never reached
        raise AssertionError

    client = TestClient(LeanRoutes(framework, Backend(fail=True), max_batch=3), raise_server_exceptions=False)
    r = client.post("/predict", content=b"RAW", headers={"content-type": "image/png"})
    assert r.status_code == 500
    assert r.json() == {"detail": "the server failed on this request (RuntimeError)"}


def test_a_client_gone_before_its_body_ends_gets_no_answer_and_runs_no_job():
    import asyncio

    backend, sent = Backend(), []
    messages = iter([{"type": "http.request", "body": b"PART", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    async def framework(scope, receive, send):  # never reached
        raise AssertionError

    scope = {"type": "http", "method": "POST", "path": "/predict", "query_string": b"",
             "headers": [(b"content-type", b"image/png")]}  # fmt: skip
    asyncio.run(LeanRoutes(framework, backend, max_batch=3)(scope, receive, send))
    assert sent == [] and backend.jobs == []
