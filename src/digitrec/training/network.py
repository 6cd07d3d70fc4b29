"""What a trained network has learned, as a whole: the first convolution's filters as images, and
a map of the test set as the network's last hidden layer sees it (t-SNE from scikit-learn, to 2-D,
one colour per class, misclassified digits marked). Every run folder gets both
(`filters.png`, `test_map.png`), from training and from `digitrec evaluate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitrec.runtime import in_batches

MAP_SAMPLE = 2000  # test images on the map: every misclassified one, then a random sample


def first_filters(model: Any) -> np.ndarray | None:
    """The first convolution's kernels as (filters, height, width) images (its first input channel);
    an ensemble's (`ensemble.ensemble_model`) are its first member's."""
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            kernel = np.asarray(layer.get_weights()[0], np.float32)  # (kh, kw, in, out)
            return np.moveaxis(kernel[:, :, 0, :], -1, 0)
        if hasattr(layer, "layers") and (filters := first_filters(layer)) is not None:
            return filters
    return None


def hidden_features(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """What the output layer reads (the last hidden layer's output) for images `x`, flattened; for
    an ensemble, what each member's output layer reads, side by side."""
    from digitrec._tf import keras, quiet_keras_inputs

    members = [layer for layer in model.layers if isinstance(layer, keras().Model)]
    if members:
        return np.concatenate([hidden_features(member, x, batch_size) for member in members], axis=1)
    names = [layer.name for layer in model.layers]
    output_layer = model.get_layer("probabilities") if "probabilities" in names else model.layers[-1]
    probe = keras().Model(model.inputs, output_layer.input)
    with quiet_keras_inputs():
        features = in_batches(lambda part: probe(part, training=False), x, batch_size)
    return features.reshape(len(x), -1)


def map_sample(y_true: np.ndarray, y_pred: np.ndarray, size: int = MAP_SAMPLE, seed: int = 0) -> np.ndarray:
    """Indices of the test images to map: all misclassified ones, and random others up to `size`."""
    wrong = np.flatnonzero(y_true != y_pred)
    right = np.flatnonzero(y_true == y_pred)
    rng = np.random.default_rng(seed)
    extra = rng.choice(right, size=max(0, min(len(right), size - len(wrong))), replace=False)
    return np.sort(np.concatenate([wrong, extra]))


def test_map(model: Any, x: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE points (N, 2) of the images `x` as the last hidden layer sees them."""
    from sklearn.manifold import TSNE

    features = hidden_features(model, x)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(features)


def write_views(model: Any, x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, out_dir: str | Path) -> list[Path]:
    """Draw filters.png and test_map.png into `out_dir` for a Keras model; returns the files."""
    return draw_views(model, views_sample(x, y_true, y_pred), out_dir)


def views_sample(x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """What the test map shows: the images of `map_sample`, their classes and their indices
    (None for fewer than 10 images)."""
    if len(x) < 10:
        return None
    index = map_sample(y_true, y_pred)
    return x[index], y_true[index], y_pred[index], index


def draw_views(model: Any, sample: tuple[np.ndarray, ...] | None, out_dir: str | Path) -> list[Path]:
    """filters.png, and test_map.png of a `views_sample`, into `out_dir`; returns the files."""
    from digitrec import plots

    out_dir = Path(out_dir)
    written = []
    filters = first_filters(model)
    if filters is not None:
        written.append(plots.plot_filters(filters, out_dir / "filters.png"))
    if sample is not None:
        x, y_true, y_pred, index = sample
        written.append(plots.plot_test_map(test_map(model, x), y_true, y_pred, out_dir / "test_map.png", index))
    return written
