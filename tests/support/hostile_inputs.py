"""Hostile and malformed requests for `digitrec serve`, sent alongside normal traffic: the
generator and the attack that `tests/test_hostile.py` and `benchmarks/hostile.py` both run.

Every request goes to a real server on 127.0.0.1 over its own connection; one request in four is
a normal upload whose answer is checked.
"""

from __future__ import annotations

import collections
import http.client
import io
import json
import random
import struct
import time
import zlib

from tests.support.serverproc import multipart


def _png(width: int = 200, height: int = 200, seven: bool = True) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 255)
    if seven:
        ImageDraw.Draw(image).line(
            [(0.3 * width, 0.2 * height), (0.7 * width, 0.2 * height), (0.45 * width, 0.85 * height)],
            fill=0,
            width=max(2, width // 15),
        )
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def hostile_requests(rng: random.Random, count: int):
    """Yield (kind, method, path, headers, body) for `count` hostile requests."""
    good = _png()
    kinds = [
        "random bytes as png",
        "truncated png",
        "truncated jpeg",
        "bomb header",
        "wrong content type",
        "huge declared length",
        "garbage multipart",
        "deep json",
        "json wrong types",
        "json huge numbers",
        "path in filename",
        "empty body",
        "batch over limit",
        "text as image",
        "boundary missing",
        "nan pixels",
        "gif loop of frames",
        "unknown path",
    ]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        headers: dict[str, str] = {}
        path, method = "/predict", "POST"
        if kind == "random bytes as png":
            body, ctype = multipart([("x.png", "image/png", rng.randbytes(rng.randint(0, 5000)))])
        elif kind == "truncated png":
            body, ctype = multipart([("x.png", "image/png", good[: rng.randint(1, len(good) - 1)])])
        elif kind == "truncated jpeg":
            from PIL import Image

            buf = io.BytesIO()
            Image.open(io.BytesIO(good)).convert("RGB").save(buf, format="JPEG")
            body, ctype = multipart([("x.jpg", "image/jpeg", buf.getvalue()[: rng.randint(10, 600)])])
        elif kind == "bomb header":
            body, ctype = multipart([("bomb.png", "image/png", _png_header(20000, 20000))])
        elif kind == "wrong content type":
            body, ctype = good, rng.choice(["video/mp4", "text/plain", "application/x-www-form-urlencoded", ""])
        elif kind == "huge declared length":
            body, ctype = multipart([("x.png", "image/png", good)])
            headers["Content-Length"] = str(10**12)
        elif kind == "garbage multipart":
            body, ctype = rng.randbytes(3000), "multipart/form-data; boundary=xyz"
        elif kind == "deep json":
            depth = rng.randint(1000, 200000)
            body, ctype = b"[" * depth + b"]" * depth, "application/json"
        elif kind == "json wrong types":
            body = json.dumps(
                rng.choice(
                    [
                        {"pixels": "x"},
                        {"pixels": [[None] * 28] * 28},
                        [1, 2, 3],
                        "str",
                        7,
                        {"pixels": [[0] * 28] * 27},
                        {"images": "no"},
                    ]
                )
            ).encode()
            ctype = "application/json"
        elif kind == "json huge numbers":
            body, ctype = json.dumps({"pixels": [[1e308] * 28] * 28}).encode(), "application/json"
        elif kind == "path in filename":
            body, ctype = multipart([("../../../../etc/passwd", "image/png", b"root:x:0:0")])
        elif kind == "empty body":
            body, ctype = b"", rng.choice(["application/json", "multipart/form-data; boundary=a"])
        elif kind == "batch over limit":
            path = "/predict/batch"
            body, ctype = multipart([(f"{k}.png", "image/png", good) for k in range(80)], field="files")
        elif kind == "text as image":
            body, ctype = multipart([("notes.png", "image/png", b"hello, this is text\n" * 20)])
        elif kind == "boundary missing":
            body, ctype = multipart([("x.png", "image/png", good)])[0], "multipart/form-data"
        elif kind == "nan pixels":
            body, ctype = b'{"pixels": ' + json.dumps([[float("nan")] * 28] * 28).encode() + b"}", "application/json"
        elif kind == "gif loop of frames":
            from PIL import Image

            frames = [Image.new("L", (64, 64), rng.randint(0, 255)) for _ in range(30)]
            buf = io.BytesIO()
            frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], loop=0)
            body, ctype = multipart([("anim.gif", "image/gif", buf.getvalue())])
        else:
            path = rng.choice(["/static/../app.py", "/../../etc/passwd", "/predict/../../x", "/static/%2e%2e/app.py"])
            method, body, ctype = "GET", b"", ""
        if ctype:
            headers["Content-Type"] = ctype
        yield kind, method, path, headers, body


def send(port: int, method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if "Content-Length" not in headers and method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except OSError:  # the server refused early (413) and closed: that is an answer too
                pass
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return -1, type(exc).__name__.encode()
    finally:
        conn.close()


def attack(port: int, count: int, seed: int = 0, deadline_s: float = 120.0) -> dict:
    rng = random.Random(seed)
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    normal_ok = normal = 0
    good_body, good_type = multipart([("seven.png", "image/png", _png())])
    start = time.monotonic()
    for i, (kind, method, path, headers, body) in enumerate(hostile_requests(rng, count)):
        if time.monotonic() - start > deadline_s:
            break
        status, _ = send(port, method, path, headers, body)
        statuses[kind][status] += 1
        if i % 3 == 0:  # normal traffic keeps flowing
            normal += 1
            status, payload = send(port, "POST", "/predict", {"Content-Type": good_type}, good_body)
            normal_ok += status == 200 and json.loads(payload).get("digit") == 7
    return {
        "hostile": sum(sum(c.values()) for c in statuses.values()),
        "by_kind": {k: {str(s): n for s, n in c.items()} for k, c in statuses.items()},
        "server_errors_5xx": sum(n for c in statuses.values() for s, n in c.items() if s >= 500),
        "no_answer": sum(n for c in statuses.values() for s, n in c.items() if s < 0),
        "normal_requests": normal,
        "normal_answered_right": normal_ok,
        "seconds": round(time.monotonic() - start, 1),
    }
