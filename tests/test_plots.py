"""plots: every chart is a PNG of its data, written whole (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitrec import plots


def _png(path) -> Image.Image:
    image = Image.open(path)
    assert image.format == "PNG" and min(image.size) > 100
    return image


def test_training_curves_confusion_matrix_and_grids(tmp_path):
    curves = plots.plot_training_curves(
        {"accuracy": [0.9, 0.95], "val_accuracy": [0.92, 0.96], "loss": [0.3, 0.2], "val_loss": [0.25, 0.15]},
        tmp_path / "curves.png",
    )
    cm = np.diag([5] * 10)
    cm[3, 5] = 2
    matrix = plots.plot_confusion_matrix(cm, [str(d) for d in range(10)], tmp_path / "cm.png")
    images = np.random.default_rng(0).integers(0, 255, (6, 28, 28), dtype=np.uint8)
    grid = plots.plot_predictions(images, [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, None], [0.9] * 6, tmp_path / "grid.png")
    for path in (curves, matrix, grid):
        _png(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "curves.png", "grid.png"]  # no temporaries


def test_a_wrong_answer_is_drawn_in_red(tmp_path):
    images = np.zeros((2, 28, 28), np.uint8)
    right = _png(plots.plot_predictions(images, [1, 2], [1, 2], [0.9, 0.9], tmp_path / "a.png"))
    wrong = _png(plots.plot_predictions(images, [1, 2], [1, 7], [0.9, 0.9], tmp_path / "b.png"))

    def reddish(image):
        a = np.asarray(image.convert("RGB")).astype(int)
        return int(((a[..., 0] > 150) & (a[..., 1] < 100) & (a[..., 2] < 100)).sum())

    assert reddish(wrong) > reddish(right)
