"""See inside a trained network: what each convolution and pooling layer makes of one image (its
feature maps), and which input pixels decided the answer (an attribution map), for the digit the
model answers or any digit asked for ("why not a 7?").

The attribution is integrated gradients (Sundararajan et al., 2017) from a black image, the
paper's blank: the gradient of the digit's probability, averaged along the straight path from
black to the image, times the image. Its parts add up to how far the image moved the probability
from the blank's, so it credits the ink that made the answer; plain gradients only say where a
small change would matter, and occlusion needs a patch size that digits of every thickness do not
share (docs/explain.md compares them). The map shown is its absolute value, scaled to sum to 1.

Works on any Keras model the loader reads; a LiteRT file is explained through its run's Keras
file (`model.keras` beside it), since LiteRT keeps no gradients.
"""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import DigitrecError

STEPS = 32  # points along the path from black to the image: the sum is within 1 % of its limit


@dataclass
class LayerMaps:
    """One layer's feature maps for one image: (height, width, channels)."""

    name: str
    kind: str  # Conv2D or MaxPooling2D
    maps: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.maps.shape)}


@dataclass
class Explanation:
    """Why a model answered what it did for one 28x28 image."""

    image: np.ndarray  # (28, 28) in [0, 1], what the model saw
    probabilities: np.ndarray  # (10,)
    digit: int  # the digit explained (the answer, unless another was asked for)
    attribution: np.ndarray  # (28, 28), non-negative, sums to 1
    layers: list[LayerMaps] = field(default_factory=list)
    method: str = "integrated gradients"

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "answer": int(np.argmax(self.probabilities)),
            "probabilities": [round(float(p), 6) for p in self.probabilities],
            "method": self.method,
            "input": np.round(self.image, 4).tolist(),
            "attribution": np.round(self.attribution, 6).tolist(),
            "layers": [layer.to_dict() for layer in self.layers],
        }


@contextmanager
def _quiet_inputs():
    # Keras warns when a model whose input has a name is called with a bare tensor; it is the same.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        yield


def keras_model_for(target: str | Path | None = None, runs_root: str | Path | None = None):
    """The Keras model behind `target` (a model file, a run folder, or None: the default model),
    and its name: a LiteRT file is explained through the Keras file of its run."""
    from . import store

    choice = store.resolve_model(target, runs_root)
    path = choice.path
    if choice.backend == "litert":
        keras_file = path.with_name("model.keras")
        if not keras_file.is_file():
            raise DigitrecError(f"{path} is a LiteRT file without a Keras model beside it: LiteRT keeps no gradients")
        path = keras_file
    return store.load_model(path), choice.name


_LOCK = threading.Lock()


def keras_model_of(predictor: Any):
    """The Keras model that explains a Predictor's answers: its own when it runs one, else its
    run's `model.keras` (loaded once, with TensorFlow, on the first explanation asked)."""
    with _LOCK:
        model = getattr(predictor, "_explain_model", None)
        if model is None:
            model = getattr(predictor.model, "model", None) if predictor.backend == "keras" else None
            if model is None:
                model, _ = keras_model_for(predictor.choice.path)
            predictor._explain_model = model
        return model


def preview(layers: list[LayerMaps], channels: int = 8) -> list[dict[str, Any]]:
    """The first `channels` maps of each layer, each scaled to 0-1 on its own, as nested lists
    (channel, row, column) with the layer's name and full shape: what the page and app draw."""
    out = []
    for layer in layers:
        maps = np.moveaxis(layer.maps[..., :channels], -1, 0)
        low = maps.min(axis=(1, 2), keepdims=True)
        span = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-6)
        out.append({**layer.to_dict(), "maps": np.round((maps - low) / span, 3).tolist()})
    return out


def feature_maps(model: Any, x: np.ndarray) -> list[LayerMaps]:
    """The outputs of every Conv2D and MaxPooling2D layer of `model` for one image (1, 28, 28, 1)."""
    from ._tf import keras

    layers = [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "MaxPooling2D")]
    if not layers:
        return []
    probe = keras().Model(model.inputs, [layer.output for layer in layers])
    with _quiet_inputs():
        outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [
        LayerMaps(layer.name, type(layer).__name__, np.asarray(out, np.float32)[0])
        for layer, out in zip(layers, outputs)
    ]


def integrated_gradients(model: Any, x: np.ndarray, digit: int, steps: int = STEPS) -> np.ndarray:
    """Integrated gradients of `digit`'s probability for one image (1, 28, 28, 1), from black."""
    from ._tf import tensorflow

    tf = tensorflow()
    alphas = tf.reshape(tf.linspace(1.0 / steps, 1.0, steps), (steps, 1, 1, 1))
    path = alphas * tf.constant(x, tf.float32)
    with tf.GradientTape() as tape, _quiet_inputs():
        tape.watch(path)
        chosen = model(path, training=False)[:, digit]
    gradients = tape.gradient(chosen, path)
    return (np.asarray(tf.reduce_mean(gradients, axis=0)) * x[0])[..., 0]


def gradient_times_input(model: Any, x: np.ndarray, digit: int) -> np.ndarray:
    """The gradient of `digit`'s probability times the image: one step of the above."""
    return integrated_gradients(model, x, digit, steps=1)


def explain(model: Any, image: np.ndarray, digit: int | None = None, method: str = "integrated gradients"
            ) -> Explanation:  # fmt: skip
    """Explain `model`'s answer for one 28x28 image in [0, 1] (light digit on dark), or its
    probability for `digit`."""
    x = np.asarray(image, np.float32).reshape(1, 28, 28, 1)
    with _quiet_inputs():
        probabilities = np.asarray(model(x, training=False), np.float64)[0]
    chosen = int(np.argmax(probabilities)) if digit is None else int(digit)
    if not 0 <= chosen < len(probabilities):
        raise DigitrecError(f"--digit must be between 0 and {len(probabilities) - 1}")
    methods = {"integrated gradients": integrated_gradients, "gradient x input": gradient_times_input}
    if method not in methods:
        raise DigitrecError(f"unknown attribution method {method!r}; choose one of {', '.join(methods)}")
    raw = np.abs(methods[method](model, x, chosen))
    total = float(raw.sum())
    attribution = raw / total if total > 0 else np.full_like(raw, 1.0 / raw.size)
    return Explanation(
        x[0, ..., 0], probabilities, chosen, attribution.astype(np.float32), feature_maps(model, x), method
    )


def ink_share(explanation: Explanation, threshold: float = 0.2) -> float:
    """The share of the attribution that lies on the image's ink (pixels above `threshold`)."""
    return float(explanation.attribution[explanation.image > threshold].sum())
