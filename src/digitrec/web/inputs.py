"""Reading a request's images: uploads (multipart), an image's bytes as the body (`image/*`,
`application/octet-stream`) or 28x28 pixel arrays (JSON), held to the service's limits, with a
4xx and one clear sentence for anything else."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import HTTPException, Request

from digitrec.reading.preprocess import MNIST_SIZE
from digitrec.web.limits import Limits, TooLarge

# json.loads holds the interpreter for its whole run, thread or not: 10 MiB of small numbers take
# a quarter of a second, during which no other connection (/readyz included) is answered. Images
# of 28x28 numbers need about 800 commas each, so a body with far more is refused unparsed.
COMMAS_PER_IMAGE = 1024


async def read_images(request: Request, field: str, many: bool, limits: Limits) -> list[tuple[str | None, Any]]:
    """The images in a request: uploads (multipart), one image as the body, or 28x28 pixel arrays (JSON)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        if many:
            raise HTTPException(415, f"send several images as multipart/form-data, each in the field '{field}'")
        raw = await request.body()
        if not raw:
            raise HTTPException(422, "the body is empty: send the image's bytes")
        return [(None, raw)]
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=limits.max_batch + 1, max_fields=limits.max_batch + 16)
        except TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed multipart body
            if "too many" in str(exc).lower():
                raise HTTPException(413, too_many(many, limits)) from None
            raise HTTPException(400, "malformed multipart body") from None
        uploads = [v for k, v in form.multi_items() if k in (field, "file", "files") and not isinstance(v, str)]
        if not uploads:
            raise HTTPException(422, f"no image in the form: send the file in the field '{field}'")
        if len(uploads) > (limits.max_batch if many else 1):
            raise HTTPException(413, too_many(many, limits))
        return [(u.filename or None, await u.read()) for u in uploads]
    if ctype == "application/json":
        raw = await request.body()
        return json_images(raw, many, limits)
    raise HTTPException(
        415,
        "send an image as multipart/form-data (field 'file'), as the body (Content-Type: image/png, …) "
        "or JSON 28x28 pixels",
    )


def too_many(many: bool, limits: Limits, what: str = "") -> str:
    """Why a request holds too many images: how many its route reads, and where to send more."""
    if many:
        return f"at most {limits.max_batch} images {what + ' ' if what else ''}per request"
    return f"one image {what + ' ' if what else ''}per request (send several to /predict/batch)"


def json_images(raw: bytes, many: bool, limits: Limits) -> list[tuple[str | None, Any]]:
    """The 28x28 arrays in a JSON body: {"pixels": …}, or {"images": [{"pixels": …}, …]}."""
    images = limits.max_batch if many else 1
    if raw.count(b",") > COMMAS_PER_IMAGE * (images + 1):  # a scan, 3 ms for 10 MiB: no parse
        raise HTTPException(413, "too many values: " + too_many(many, limits, "of 28x28 numbers"))
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
        raise HTTPException(413, too_many(many, limits))
    return [(None, pixels(item)) for item in items]


def pixels(item: Any) -> np.ndarray:
    """A JSON item's 28x28 pixels (0-1 or 0-255, light digit on dark) as a float32 array in 0-1."""
    rows = item.get("pixels") if isinstance(item, dict) else None
    if not isinstance(rows, list) or len(rows) != MNIST_SIZE:
        raise HTTPException(422, '"pixels" must be 28 rows of 28 numbers (0-1 or 0-255, light digit on dark)')
    if any(isinstance(value, bool) for row in rows if isinstance(row, list) for value in row):
        raise HTTPException(422, '"pixels" must be 28 rows of 28 numbers, not true or false')
    try:
        array = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise HTTPException(422, '"pixels" must be 28 rows of 28 numbers') from None
    if array.shape != (MNIST_SIZE, MNIST_SIZE) or not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise HTTPException(422, '"pixels" must be 28 rows of 28 finite numbers between 0 and 255')
    return (array / 255.0 if array.max() > 1.0 else array).astype(np.float32)
