"""The service's API documentation: example answers and each route's OpenAPI description,
kept beside the app factory (`web.app`) so that the routes read as what they do."""

from __future__ import annotations

from typing import Any

EXAMPLE_PREDICTION = {
    "file": "seven.png",
    "digit": 7,
    "confidence": 0.9987,
    "probabilities": [0.0, 0.0003, 0.0006, 0.0, 0.0, 0.0, 0.0, 0.9987, 0.0, 0.0004],
}
EXAMPLE_NO_DIGIT = {
    "file": "blank.jpg",
    "digit": None,
    "confidence": 0.31,
    "probabilities": [0.1] * 10,
    "no_digit": "no ink",
    "reason": "no ink found (a blank or too faint image)",
}
EXAMPLE_DOUBT = {
    "file": "small-one.png",
    "digit": None,
    "confidence": 0.45,
    "probabilities": [0.05, 0.45, 0.05, 0.05, 0.08, 0.05, 0.05, 0.12, 0.05, 0.05],
    "no_digit": "not a digit",
    "reason": "not a digit: best guesses 1 and 7 at 57% together (below 65%)",
    "best_guess": 1,
    "not_digit_score": 0.43,
}

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "body, image or batch over the limits"},
    415: {"description": "not an image upload, an image's bytes nor JSON"},
    422: {"description": "not a readable image, or pixels of the wrong shape"},
}


def _upload_body(field: str, many: bool = False) -> dict[str, Any]:
    item = {"type": "string", "format": "binary"}
    schema = {
        "type": "object",
        "properties": {field: {"type": "array", "items": item} if many else item},
        "required": [field],
    }
    return {"multipart/form-data": {"schema": schema}}


# One image's bytes as the whole body: `curl --data-binary @seven.png -H 'Content-Type: image/png'`.
RAW_BODY = {
    media: {"schema": {"type": "string", "format": "binary"}} for media in ("image/*", "application/octet-stream")
}

PIXELS_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"pixels": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
        },
        "example": {"pixels": [[0] * 28] * 28},
    }
}

PREDICT: dict[str, Any] = {
    "summary": "Read one digit",
    "responses": {
        200: {
            "description": "the digit, or null with a reason",
            "content": {
                "application/json": {
                    "examples": {
                        "digit": {"value": EXAMPLE_PREDICTION},
                        "no digit": {"value": EXAMPLE_NO_DIGIT},
                        "no digit, with a best guess": {"value": EXAMPLE_DOUBT},
                    }
                }
            },
        },
        **ERRORS,
    },
    "openapi_extra": {"requestBody": {"content": {**_upload_body("file"), **RAW_BODY, **PIXELS_BODY}}},
}

EXAMPLE_NUMBER = {
    "file": "42.png",
    "number": "42",
    "digits": [
        {"digit": 4, "confidence": 0.99, "probabilities": [0.0] * 10},
        {"digit": 2, "confidence": 0.98, "probabilities": [0.0] * 10},
    ],
}

PREDICT_NUMBER: dict[str, Any] = {
    "summary": "Read a row of digits as one number",
    "responses": {200: {"content": {"application/json": {"example": EXAMPLE_NUMBER}}}, **ERRORS},
    "openapi_extra": {"requestBody": {"content": {**_upload_body("file"), **RAW_BODY}}},
}

PREDICT_BATCH: dict[str, Any] = {
    "summary": "Read several images, one digit each",
    "responses": {
        200: {"content": {"application/json": {"example": {"predictions": [EXAMPLE_PREDICTION, EXAMPLE_NO_DIGIT]}}}},
        **ERRORS,
    },
    "openapi_extra": {"requestBody": {"content": _upload_body("files", many=True)}},
}

EXAMPLE_EXPLANATION = {
    "file": "seven.png",
    "digit": 7,
    "answer": 7,
    "probabilities": [0.0, 0.0003, 0.0006, 0.0, 0.0, 0.0, 0.0, 0.9987, 0.0, 0.0004],
    "method": "integrated gradients",
    "input": [[0.0] * 28] * 28,
    "attribution": [[1 / 784] * 28] * 28,
    "layers": [{"name": "conv2d", "kind": "Conv2D", "shape": [28, 28, 32]}],
}

EXPLAIN: dict[str, Any] = {
    "summary": "Why this digit: the pixels that decided it, and what each layer saw",
    "responses": {
        200: {
            "description": "the 28x28 input, the attribution map (non-negative, sums to 1) for the answer or "
            "?digit=D, each convolution and pooling layer's name and shape (?maps=true: and its first 8 maps)",
            "content": {"application/json": {"example": EXAMPLE_EXPLANATION}},
        },
        **ERRORS,
    },
    "openapi_extra": {"requestBody": {"content": {**_upload_body("file"), **RAW_BODY, **PIXELS_BODY}}},
}
