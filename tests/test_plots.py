"""plots: every chart is a PNG of its data, written whole (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from digitrec import plots


def _png(path) -> Image.Image:
    image = Image.open(path)
    assert image.format == "PNG" and min(image.size) > 100
    return image


def _rgb(path) -> np.ndarray:
    return np.asarray(_png(path).convert("RGB")).astype(int)


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


def test_the_curves_draw_their_history(tmp_path):
    rising = {"accuracy": [0.5, 0.8, 0.9], "val_accuracy": [0.6, 0.8, 0.85], "loss": [1.5, 0.6, 0.3],
              "val_loss": [1.2, 0.7, 0.5]}  # fmt: skip
    falling = {key: values[::-1] for key, values in rising.items()}
    a = _rgb(plots.plot_training_curves(rising, tmp_path / "a.png"))
    b = _rgb(plots.plot_training_curves(falling, tmp_path / "b.png"))
    coloured = lambda rgb: (rgb.max(axis=2) - rgb.min(axis=2)) > 80  # noqa: E731 (lines, not grey text)
    assert coloured(a).sum() > 500 and coloured(b).sum() > 500  # the four lines are drawn
    assert a.shape == b.shape and (coloured(a) != coloured(b)).sum() > 500  # where the data put them


def test_the_confusion_matrix_is_darkest_along_its_diagonal(tmp_path):
    from scipy import ndimage

    names = [str(d) for d in range(10)]
    darkest = np.array([8, 48, 107])  # "Blues" at a share of 1

    def dark_cells(cm, name):
        rgb = _rgb(plots.plot_confusion_matrix(cm, names, tmp_path / name))
        labels, _ = ndimage.label(np.linalg.norm(rgb - darkest, axis=2) < 40)  # cells meet at corners only
        centres = []
        for rows, cols in ndimage.find_objects(labels):
            height, width = rows.stop - rows.start, cols.stop - cols.start
            if height > 20 and 0.8 < width / height < 1.25:  # a square cell (the colour bar's top is thin)
                centres.append(((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2))
        return np.array(centres)

    right = dark_cells(np.diag([20] * 10), "diag.png")
    wrong = dark_cells(np.diag([20] * 10)[::-1], "anti.png")  # every answer wrong
    assert len(right) == 10 and len(wrong) == 10
    # Right answers run from the top left to the bottom right (true class in rows, as read).
    assert np.corrcoef(right.T)[0, 1] > 0.99 and np.corrcoef(wrong.T)[0, 1] < -0.99


def test_a_wrong_answer_is_drawn_in_red(tmp_path):
    images = np.zeros((2, 28, 28), np.uint8)
    right = _png(plots.plot_predictions(images, [1, 2], [1, 2], [0.9, 0.9], tmp_path / "a.png"))
    wrong = _png(plots.plot_predictions(images, [1, 2], [1, 7], [0.9, 0.9], tmp_path / "b.png"))

    def reddish(image):
        a = np.asarray(image.convert("RGB")).astype(int)
        return int(((a[..., 0] > 150) & (a[..., 1] < 100) & (a[..., 2] < 100)).sum())

    assert reddish(wrong) > reddish(right)


def _overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible texts in a drawn figure whose boxes overlap (titles, labels, ticks)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer).shrunk(0.98, 0.98)) for t in texts]
    return [(a, b) for k, (a, box) in enumerate(boxes) for b, other in boxes[k + 1 :] if box.overlaps(other)]


def test_the_explain_figure_has_no_overlapping_text_and_names_its_method():
    """Layers of every shape (maps, pooled maps, one value per channel) under the inputs and the
    probabilities: constrained layout keeps every title, label and tick apart."""
    import matplotlib.pyplot as plt

    from digitrec.reading.explain import Explanation, LayerMaps

    rng = np.random.default_rng(0)
    layers = [
        LayerMaps("conv1_relu", "Conv2D", rng.random((26, 26, 32))),
        LayerMaps("down1_relu", "Conv2D", rng.random((12, 12, 32))),
        LayerMaps("pool_a_long_layer_name", "MaxPooling2D", rng.random((5, 5, 3))),
        LayerMaps("conv5_relu", "Conv2D", rng.random((1, 1, 128))),
    ]
    probabilities = np.full(10, 0.02)
    probabilities[7] = 0.82
    image = np.zeros((28, 28), np.float32)  # a white input on white paper must still show its frame
    explanation = Explanation(image, probabilities, 7, np.full((28, 28), 1 / 784), layers, "occlusion")
    fig = plots.explanation_figure(explanation, Image.new("L", (120, 90), 255), "a-long-file-name.png: pretrained")
    try:
        assert _overlapping_texts(fig) == []
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        assert "why 7:\nocclusion" in texts and "probability" in texts and "digit" in texts
        assert "conv1_relu (26, 26, 32)" in texts and "pool_a_long_layer_name (5, 5, 3)" in texts
    finally:
        plt.close(fig)


def test_counts_in_titles_match_what_is_drawn(tmp_path, monkeypatch):
    """The misclassified grid says how many it shows of how many; the test map rings and lists
    every misclassified image with its test-set number."""
    import matplotlib.pyplot as plt

    captured: dict[str, list[str]] = {}
    real_save = plots._save

    def keep(fig, path):
        captured[Path(path).name] = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    images, names = np.zeros((57, 28, 28), np.uint8), [str(d) for d in range(10)]
    plots.plot_misclassified(images, [1] * 57, [7] * 57, [0.9] * 57, names, tmp_path / "a.png")
    plots.plot_misclassified(images[:5], [1] * 5, [7] * 5, [0.9] * 5, names, tmp_path / "b.png")
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, 300)
    answer = truth.copy()
    answer[[3, 50, 299]] = (truth[[3, 50, 299]] + 1) % 10
    plots.plot_test_map(rng.normal(size=(300, 2)), truth, answer, tmp_path / "map.png", np.arange(300) * 10)
    plt.close("all")
    _png(tmp_path / "a.png")
    assert "Misclassified test images: the 36 most confident of 57" in captured["a.png"]
    assert "Misclassified test images: all 5" in captured["b.png"]
    listing = "\n".join(captured["map.png"])
    assert "misclassified: 3 (test set #)" in listing
    for n, i in enumerate([3, 50, 299], start=1):
        assert f"{n:>2}. {truth[i]} read as {answer[i]} #{i * 10}" in listing
