"""Inference backends behind one `predict(x) -> probabilities`: LiteRT (no TensorFlow, starts in
milliseconds) and Keras (any model the loader reads).

`load_runtime(choice)` loads what `store.resolve_model` chose. Both backends take float32 arrays
(N, height, width, channels) and return (N, classes) probabilities, for any N.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digitrec.errors import DigitrecError
from digitrec.files import first_line
from digitrec.store import ModelChoice


def in_batches(predict: Callable[[np.ndarray], Any], x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """`predict` applied to `x` a batch of `batch_size` rows at a time, the results joined in order
    (a model's memory stays bounded whatever the number of images). `x` must not be empty."""
    return np.concatenate([np.asarray(predict(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


class Runtime(Protocol):
    backend: str
    input_shape: tuple
    output_shape: tuple

    def predict(self, x: np.ndarray) -> np.ndarray: ...


class LiteRTModel:
    """A LiteRT/TFLite model. With `ai-edge-litert` installed this never imports TensorFlow
    (fast start); else it uses TensorFlow's own interpreter."""

    backend = "litert"

    def __init__(self, model: bytes | str | os.PathLike, threads: int | None = None):
        content = Path(model).read_bytes() if isinstance(model, (str, os.PathLike)) else model
        # LiteRT alone would use one core; $DIGITREC_LITERT_THREADS overrides (1 suits many workers).
        threads = threads or int(os.environ.get("DIGITREC_LITERT_THREADS") or 0) or os.cpu_count() or 1
        from digitrec._tf import filtered_stderr

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            from digitrec._tf import tensorflow

            Interpreter = tensorflow().lite.Interpreter
        with filtered_stderr():
            self.interpreter = Interpreter(model_content=content, num_threads=threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

        self._shape: tuple | None = None
        # One interpreter holds one set of tensors: calls from several threads (the web service's
        # thread pool) must take turns, or one call's tensors are resized under another's feet.
        self._lock = threading.Lock()
        self.input_shape = (None, *(int(d) for d in self.input["shape"][1:]))
        self.output_shape = (None, int(self.output["shape"][-1]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        with self._lock:
            if x.shape != self._shape:  # re-plan the tensors only when the batch size changes
                self.interpreter.resize_tensor_input(self.input["index"], x.shape)
                self.interpreter.allocate_tensors()
                self._shape = x.shape
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            return np.array(self.interpreter.get_tensor(self.output["index"]))


class KerasModel:
    """A Keras model called through one compiled function (about 5x faster than an eager call
    for a single image)."""

    backend = "keras"

    def __init__(self, model: Any):
        from digitrec._tf import backend, tensorflow

        self.model = model
        self.input_shape = tuple(model.input_shape)
        self.output_shape = tuple(model.output_shape)
        if backend() != "tensorflow":  # Keras on JAX compiles the call itself
            self._call = lambda batch: model.predict_on_batch(batch)
            return
        self._call = tensorflow().function(lambda batch: model(batch, training=False), reduce_retracing=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._call(np.asarray(x, np.float32)))


def open_litert(path: str | os.PathLike, content: bytes | None = None) -> LiteRTModel:
    """The LiteRT file at `path` (its bytes, when already read), or one line saying it is none."""
    try:
        return LiteRTModel(path if content is None else content)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise DigitrecError(f"{path} is not a usable LiteRT/TFLite model ({first_line(exc)})") from None


def load_runtime(choice: ModelChoice) -> Runtime:
    """The backend for `choice`: LiteRT for a `.tflite` file, else Keras."""
    if choice.backend == "litert":
        return open_litert(choice.path)
    from digitrec.store import load_model

    return KerasModel(load_model(choice.path))
