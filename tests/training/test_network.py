"""What a trained network has learned as a whole: its first filters and the map of the test set."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitrec import store
from digitrec.training import network


def test_a_run_folder_shows_the_first_filters_and_the_test_map(good_run):
    with Image.open(good_run.run_dir / "filters.png") as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 2] < 120)  # "bwr": positive weights
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 120)  # and negative ones
    assert red.sum() > 200 and blue.sum() > 200
    with Image.open(good_run.run_dir / "test_map.png") as image:
        rgb = np.asarray(image.convert("RGB"))
    colours = {tuple(c) for c in rgb.reshape(-1, 3)[(rgb.max(axis=2) - rgb.min(axis=2)).ravel() > 80]}
    assert len(colours) > 10  # a point colour for each of the ten digits, at the least


def test_the_filters_are_the_first_convolutions_kernels(good_run):
    model = store.load_model(good_run.run_dir / "model.keras")
    filters = network.first_filters(model)
    first = next(layer for layer in model.layers if type(layer).__name__ == "Conv2D")
    kernel = first.get_weights()[0]
    assert filters is not None and filters.shape == (kernel.shape[3], kernel.shape[0], kernel.shape[1])
    assert np.array_equal(filters[5], kernel[:, :, 0, 5])


def test_the_map_holds_every_misclassified_image_and_places_classes_apart(good_run, mnist):
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 50)
    y_pred = y_true.copy()
    y_pred[[3, 17, 251]] = 0
    index = network.map_sample(y_true, y_pred, size=100)
    assert len(index) == 100 and {3, 17, 251} <= set(index.tolist())
    model = store.load_model(good_run.run_dir / "model.keras")
    x = mnist.x_test[:300].astype(np.float32) / 255.0
    points = network.test_map(model, x)
    assert points.shape == (300, 2) and np.isfinite(points).all()
    # Images of the same digit lie closer together than images of different digits.
    y = mnist.y_test[:300]
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    same = y[:, None] == y[None]
    assert distance[same].mean() < 0.6 * distance[~same].mean()
