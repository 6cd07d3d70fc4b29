"""What a request asks of the model, as plain functions of a Predictor: the same code answers in
the service's own threads (`--workers 1`) and in its worker processes (`web.pool`). Each job
returns its HTTP status and JSON body, so a worker sends back bytes ready to go out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from digitrec import __version__
from digitrec.errors import DigitrecError
from digitrec.reading.images import ImageError
from digitrec.web.logs import ServerLog
from digitrec.web.worker import server_fault


def load_predictor(model: str | None, runs_root: str | None, max_pixels: int):
    """The Predictor a service uses, with its fast path compiled before the first request, in a
    process that keeps the memory it frees (`digitrec.reading.alloc`: no page faults per request)."""
    from digitrec.reading.alloc import for_many_images
    from digitrec.reading.predictor import Predictor

    for_many_images()
    return Predictor(model, runs_root=runs_root, max_pixels=max_pixels).warm_up()


def model_info(predictor) -> dict[str, Any]:
    """What /model says: which model answers, and what its run's metadata.json records."""
    choice = predictor.choice
    meta = choice.metadata
    return {
        "name": choice.name,
        "label": choice.label(),
        "model": meta.get("model", {}).get("name", choice.path.stem),
        "backend": predictor.backend,
        "format": "savedmodel" if choice.path.is_dir() else choice.path.suffix.lstrip("."),
        "file": choice.path.name,
        "shipped": choice.shipped,
        "dataset": meta.get("dataset", {}).get("name"),
        "test_accuracy": meta.get("test_metrics", {}).get("accuracy"),
        "versions": meta.get("versions", {"digitrec": __version__}),
        "min_confidence": predictor.min_confidence,
        "min_pair_confidence": predictor.min_pair_confidence,
    }


def answer_one(predictor, name: str | None, item: Any, with_view: bool = False) -> dict[str, Any]:
    """One image (encoded bytes) or one 28x28 array (already MNIST-style: straight to the model)."""
    if isinstance(item, np.ndarray):
        answer = predictor.answer(predictor.predict_arrays(item)[0], file=name)
        answer.preprocessed = item
    else:
        answer = predictor.predict_image(item, file=name)
    out = answer.to_dict()
    if with_view and answer.preprocessed is not None:
        out["preprocessed"] = np.round(answer.preprocessed, 3).tolist()
    return out


def answer_number(predictor, name: str | None, data: bytes) -> dict[str, Any]:
    return predictor.predict_number(data, file=name).to_dict()


def answer_batch(predictor, items: list[tuple[str | None, Any]]) -> dict[str, Any]:
    """Several images; one that cannot be read gets {"file", "error"} in its place."""
    out = []
    for name, item in items:
        try:
            out.append(answer_one(predictor, name, item))
        except ImageError as exc:
            out.append({"file": name, "error": str(exc)})
    return {"predictions": out}


def answer_explain(predictor, name: str | None, item: Any, digit: int | None, maps: bool) -> dict[str, Any]:
    """`digitrec explain --json` for one image, and with `maps` the first maps of each layer; an
    image that holds no digit by its ink gets its verdict and no explanation."""
    from digitrec.reading import explain

    result, answer = explain.explain_image(predictor, item, digit, pixels=isinstance(item, np.ndarray), file=name)
    out = {"file": name, **explain.explanation_dict(result, answer)}
    if maps and result is not None:
        out["layers"] = explain.preview(result.layers)
    return out


JOBS: dict[str, Callable[..., Any]] = {
    "one": answer_one,
    "number": answer_number,
    "batch": answer_batch,
    "explain": answer_explain,
}


def to_json(content: Any) -> bytes:
    """Compact JSON, as FastAPI's own responses are."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def run_job(predictor, kind: str, args: tuple, log: ServerLog | None = None) -> tuple[int, bytes]:
    """(status, JSON body) for one job. An image that cannot be read is the client's 422;
    anything else that goes wrong is the server's: a 500 naming the kind of failure, its
    traceback in the server's log (`log`: text on stderr by default), and the service carries on."""
    try:
        return 200, to_json(JOBS[kind](predictor, *args))
    except DigitrecError as exc:  # ImageError included
        return 422, to_json({"detail": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the service carries on
        (log or ServerLog())(f"digitrec serve: {kind} job failed", exc_info=True)
        return 500, to_json(server_fault(exc))
