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


def test_an_ensemble_shows_its_first_members_filters_and_a_map_of_all_members(good_run, mnist, tmp_path):
    from digitrec.training.ensemble import ensemble_model

    members = [store.load_model(good_run.run_dir / "model.keras") for _ in range(2)]
    alone = network.hidden_features(members[0], mnist.x_test[:20].astype(np.float32) / 255.0)
    expected = network.first_filters(members[0])
    both = ensemble_model(members)
    x = mnist.x_test[:40].astype(np.float32) / 255.0
    assert expected is not None and np.array_equal(network.first_filters(both), expected)
    features = network.hidden_features(both, x)
    assert features.shape == (40, 2 * alone.shape[1])
    assert np.allclose(features[:20, : alone.shape[1]], alone, atol=1e-5)
    y = mnist.y_test[:40].astype(np.int64)
    written = network.write_views(both, x, y, y, tmp_path)
    assert sorted(p.name for p in written) == ["filters.png", "test_map.png"]
