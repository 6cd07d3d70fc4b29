"""See inside a trained network: what each convolution and pooling layer makes of one image (its
feature maps), and which input pixels decided the answer (an attribution map), for the digit the
model answers or any digit asked for ("why not a 7?").

Two attributions, measured against each other in docs/explain.md:

- occlusion (the default where the model has a LiteRT file: every front end, without TensorFlow):
  each 3x3 patch of the 28x28 image is blacked out in turn, all 676 copies in one batch, and a
  pixel gets the mean drop in the digit's probability over the patches that cover it;
- integrated gradients (Sundararajan et al., 2017; the default for a Keras-only model, and
  `method="integrated gradients"`): the gradient of the digit's probability, averaged along the
  straight path from a black image to this one, times the image. It needs the Keras model.

Either map is shown as its absolute value, scaled to sum to 1. Feature maps come from the Keras
model's layers, or from a LiteRT interpreter that keeps its intermediate tensors.
"""

from __future__ import annotations

import re
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitrec._tf import quiet_keras_inputs
from digitrec.errors import DigitrecError, OptionError

STEPS = 32  # points along the path from black to the image: the sum is within 1 % of its limit
PATCH = 3  # occlusion: the side of the blacked-out square, moved one pixel at a time
METHODS = ("occlusion", "integrated gradients", "gradient x input")
GRADIENT_METHODS = ("integrated gradients", "gradient x input")
LITERT_LAYER_KINDS = {"CONV_2D": "Conv2D", "MAX_POOL_2D": "MaxPooling2D"}


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


class LiteRTNetwork:
    """A LiteRT file opened to be looked into, without TensorFlow: probabilities for any batch
    (`predict`), and for one image the output of every convolution and pooling (`feature_maps`,
    from an interpreter that keeps its intermediate tensors)."""

    def __init__(self, path: str | Path, batch: Any = None):
        """`batch`: a runtime.LiteRTModel of the same file already loaded (a Predictor's), else one
        is loaded here."""
        from digitrec._tf import filtered_stderr
        from digitrec.runtime import open_litert

        self.path = Path(path)
        content = self.path.read_bytes()
        self.batch = batch if batch is not None else open_litert(path, content)
        self.input_shape, self.output_shape = self.batch.input_shape, self.batch.output_shape
        self._lock = threading.Lock()
        self._probe: Any = None
        self.layers: list[tuple[str, str, int]] = []  # (name, kind, tensor index)
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:  # TensorFlow's own interpreter: only the probabilities then
            return
        with filtered_stderr(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            probe = Interpreter(
                model_content=content,
                experimental_preserve_all_tensors=True,  # the layers' outputs stay readable after invoke
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            probe.allocate_tensors()
        names = {d["index"]: d["name"] for d in probe.get_tensor_details()}
        ops: list[dict[str, Any]] = getattr(probe, "_get_ops_details", list)()
        self.layers = [
            (_layer_name(names[op["outputs"][0]]), LITERT_LAYER_KINDS[op["op_name"]], int(op["outputs"][0]))
            for op in ops
            if op["op_name"] in LITERT_LAYER_KINDS
        ]
        self._probe = probe

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.batch.predict(x)

    def feature_maps(self, x: np.ndarray) -> list[LayerMaps]:
        if self._probe is None:
            return []
        with self._lock:
            self._probe.set_tensor(self._probe.get_input_details()[0]["index"], np.asarray(x, np.float32))
            self._probe.invoke()
            return [
                LayerMaps(name, kind, np.array(self._probe.get_tensor(i), np.float32)[0])
                for name, kind, i in self.layers
            ]


def _layer_name(tensor: str) -> str:
    """A Keras layer's name from a LiteRT tensor's ("model_1/conv1_1/Relu;…" -> "conv1")."""
    parts = tensor.split(";")[0].split("/")
    name = parts[1] if len(parts) > 2 else parts[0]
    return re.sub(r"_\d+$", "", name)


def keras_model_for(target: str | Path | None = None, runs_root: str | Path | None = None):
    """The Keras model behind `target` (a model file, a run folder, or None: the default model),
    and its name: a LiteRT file is explained through the Keras file of its run."""
    from digitrec import store

    choice = store.resolve_model(target, runs_root)
    return _keras_model(choice), choice.name


def _keras_model(choice: Any):
    from digitrec import store

    path = choice.path
    if choice.backend == "litert":
        if choice.keras_file is None:
            raise OptionError(
                "method",
                f"must be occlusion for {path}: a LiteRT file without a Keras model beside it "
                "(LiteRT keeps no gradients)",
            )
        path = choice.keras_file
    return store.load_model(path)


def network_for(target: str | Path | None = None, runs_root: str | Path | None = None, method: str | None = None):
    """What explains `target`'s answers, and its name: its LiteRT file for occlusion (the default
    where there is one; no TensorFlow), else its Keras model."""
    from digitrec import store

    choice = store.resolve_model(target, runs_root)
    if choice.backend == "litert" and method in (None, "occlusion"):
        return LiteRTNetwork(choice.path), choice.name
    return _keras_model(choice), choice.name


_LOCK = threading.Lock()
# What explains each Predictor's answers, opened once per predictor and forgotten with it.
_NETWORKS: weakref.WeakKeyDictionary[Any, dict[bool, Any]] = weakref.WeakKeyDictionary()


def network_of(predictor: Any, method: str | None = None):
    """What explains a Predictor's answers (as `network_for`), opened once per predictor: its
    LiteRT file, else its Keras model (its own, or its run's `model.keras`, with TensorFlow)."""
    litert = predictor.backend == "litert" and method in (None, "occlusion")
    with _LOCK:
        opened = _NETWORKS.setdefault(predictor, {})
        if litert not in opened:
            if litert:
                opened[litert] = LiteRTNetwork(predictor.choice.path, batch=predictor.model)
            else:
                own = getattr(predictor.model, "model", None) if predictor.backend == "keras" else None
                opened[litert] = own if own is not None else _keras_model(predictor.choice)
        return opened[litert]


def scaled_maps(layer: LayerMaps, channels: int = 8) -> np.ndarray:
    """The layer's first `channels` maps as (channel, row, column), each scaled to 0-1 on its own:
    what the page and the app draw."""
    maps = np.moveaxis(layer.maps[..., :channels], -1, 0)
    low = maps.min(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-6)


def preview(layers: list[LayerMaps], channels: int = 8) -> list[dict[str, Any]]:
    """`scaled_maps` of each layer as nested lists, with the layer's name and full shape."""
    return [{**layer.to_dict(), "maps": np.round(scaled_maps(layer, channels), 3).tolist()} for layer in layers]


def feature_maps(model: Any, x: np.ndarray) -> list[LayerMaps]:
    """The outputs of every Conv2D and MaxPooling2D layer of `model` for one image (1, 28, 28, 1)."""
    if isinstance(model, LiteRTNetwork):
        return model.feature_maps(x)
    from digitrec._tf import keras

    layers = [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "MaxPooling2D")]
    if not layers:
        return []
    probe = keras().Model(model.inputs, [layer.output for layer in layers])
    with quiet_keras_inputs():
        outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [
        LayerMaps(layer.name, type(layer).__name__, np.asarray(out, np.float32)[0])
        for layer, out in zip(layers, outputs)
    ]


def probabilities_of(model: Any, x: np.ndarray) -> np.ndarray:
    """(N, classes) probabilities from a LiteRTNetwork or a Keras model."""
    if isinstance(model, LiteRTNetwork):
        return np.asarray(model.predict(x), np.float64)
    with quiet_keras_inputs():
        return np.asarray(model(x, training=False), np.float64)


def occlusion(model: Any, x: np.ndarray, digit: int, patch: int = PATCH) -> np.ndarray:
    """How much `digit`'s probability drops when each pixel is blacked out with its neighbours:
    every patch x patch square in turn (all in one batch), the drops averaged per pixel."""
    side = x.shape[1]
    corners = [(i, j) for i in range(side - patch + 1) for j in range(side - patch + 1)]
    batch = np.repeat(x, len(corners), axis=0)
    for k, (i, j) in enumerate(corners):
        batch[k, i : i + patch, j : j + patch] = 0.0
    probabilities = probabilities_of(model, np.concatenate([x, batch]))[:, digit]
    drop = probabilities[0] - probabilities[1:]
    total, count = np.zeros((side, side)), np.zeros((side, side))
    for (i, j), d in zip(corners, drop):
        total[i : i + patch, j : j + patch] += d
        count[i : i + patch, j : j + patch] += 1
    return total / np.maximum(count, 1)


def integrated_gradients(model: Any, x: np.ndarray, digit: int, steps: int = STEPS) -> np.ndarray:
    """Integrated gradients of `digit`'s probability for one image (1, 28, 28, 1), from black."""
    from digitrec._tf import tensorflow

    tf = tensorflow()
    alphas = tf.reshape(tf.linspace(1.0 / steps, 1.0, steps), (steps, 1, 1, 1))
    path = alphas * tf.constant(x, tf.float32)
    with tf.GradientTape() as tape, quiet_keras_inputs():
        tape.watch(path)
        chosen = model(path, training=False)[:, digit]
    gradients = tape.gradient(chosen, path)
    return (np.asarray(tf.reduce_mean(gradients, axis=0)) * x[0])[..., 0]


def gradient_times_input(model: Any, x: np.ndarray, digit: int) -> np.ndarray:
    """The gradient of `digit`'s probability times the image: one step of the above."""
    return integrated_gradients(model, x, digit, steps=1)


def explain(model: Any, image: np.ndarray, digit: int | None = None, method: str | None = None) -> Explanation:
    """Explain the answer of `model` (a Keras model or a LiteRTNetwork) for one 28x28 image in
    [0, 1] (light digit on dark), or its probability for `digit`. `method`: one of METHODS (None:
    occlusion for LiteRT, integrated gradients for Keras)."""
    litert = isinstance(model, LiteRTNetwork)
    method = method or ("occlusion" if litert else "integrated gradients")
    if method not in METHODS:
        raise DigitrecError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    if litert and method in GRADIENT_METHODS:
        raise DigitrecError(f"{method} needs the Keras model (LiteRT keeps no gradients): use occlusion")
    x = np.asarray(image, np.float32).reshape(1, 28, 28, 1)
    probabilities = probabilities_of(model, x)[0]
    chosen = int(np.argmax(probabilities)) if digit is None else int(digit)
    if not 0 <= chosen < len(probabilities):
        raise OptionError("digit", f"must be between 0 and {len(probabilities) - 1}")
    methods = {
        "occlusion": occlusion,
        "integrated gradients": integrated_gradients,
        "gradient x input": gradient_times_input,
    }
    raw = np.abs(methods[method](model, x, chosen))
    total = float(raw.sum())
    attribution = raw / total if total > 0 else np.full_like(raw, 1.0 / raw.size)
    return Explanation(
        x[0, ..., 0], probabilities, chosen, attribution.astype(np.float32), feature_maps(model, x), method
    )


def ink_share(explanation: Explanation, threshold: float = 0.2) -> float:
    """The share of the attribution that lies on the image's ink (pixels above `threshold`)."""
    return float(explanation.attribution[explanation.image > threshold].sum())


def explain_image(
    predictor: Any,
    source: Any,
    digit: int | None = None,
    method: str | None = None,
    *,
    pixels: bool = False,
    file: str | None = None,
) -> tuple[Explanation | None, Any]:
    """Explain one image as `predictor` reads it: (the explanation, the answer). The answer's rules
    come first: an image that holds no digit by its ink (blank, noise, a drawing) has nothing to
    explain, and gets (None, its "no digit" answer). A doubtful answer ("not a digit", "uncertain")
    is explained: why the model's best guess. `pixels`: `source` is a 28x28 array already
    MNIST-style (the service's JSON), where only a blank one is judged by its ink."""
    import dataclasses

    from digitrec.reading import preprocess, rules

    probabilities = None
    if pixels:
        pre, array = None, np.asarray(source, np.float32).reshape(28, 28)
        verdict = None if array.any() else rules.NO_INK_FOUND
    else:  # how many loops and parts a digit may have depends on how sure the model is
        pre = preprocess.to_mnist_array(source, return_steps=True, max_pixels=predictor.max_pixels, images=False)
        array, probabilities = pre.array, predictor.predict_arrays(pre.array[None])[0]
        verdict = rules.judge_ink(pre, float(probabilities.max()))
    if verdict is not None:
        if probabilities is None:
            probabilities = predictor.predict_arrays(array[None])[0]
        answer = predictor.answer(probabilities, pre, file)
        return None, dataclasses.replace(answer, digit=None, reason=verdict.reason, no_digit=verdict.kind)
    result = explain(network_of(predictor, method), array, digit, method)
    return result, predictor.answer(result.probabilities, pre, file)


def explanation_dict(result: Explanation | None, answer: Any) -> dict[str, Any]:
    """What `digitrec explain --json` and POST /explain say of one image: the explanation's fields
    and the answer's verdict (`no_digit` and `reason` when the answer is "no digit"); for an image
    with nothing to explain, the verdict alone (digit and answer null)."""
    verdict = {"no_digit": answer.no_digit, "reason": answer.reason} if answer.reason else {}
    if result is None:
        return {"digit": None, "answer": None, **verdict}
    return {**result.to_dict(), **verdict}
