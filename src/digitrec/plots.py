"""Every chart digitrec draws, with matplotlib's Agg backend (no display needed).

Each function writes one PNG atomically and returns its path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    plt = _pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return Path(path)


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Accuracy and loss per epoch, training and validation, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric, label in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss")):
        for key, style, name in ((metric, "o-", "train"), (f"val_{metric}", "s--", "validation")):
            values = history.get(key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, label=f"{name} (last {values[-1]:.4f})")
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: str | Path) -> Path:
    """Counts, true class in rows; each row's label carries that class's recall."""
    plt = _pyplot()
    cm = np.asarray(cm)
    k = len(class_names)
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(k), where=support > 0)
    # Colour by row share so that the off-diagonal errors show up next to big diagonals.
    share = np.divide(cm, support[:, None], out=np.zeros(cm.shape), where=support[:, None] > 0)
    size = max(6.0, 0.6 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ax.set_xticks(
        range(k),
        class_names,
        rotation=45 if max(map(len, class_names)) > 2 else 0,
        ha="right" if max(map(len, class_names)) > 2 else "center",
    )
    ax.set_yticks(range(k), [f"{name}  ({recall[i]:.1%})" for i, name in enumerate(class_names)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true  (recall)")
    total = cm.sum()
    ax.set_title(f"Confusion matrix: {np.trace(cm)}/{total} right ({np.trace(cm) / max(total, 1):.2%})")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return _save(fig, path)


def plot_image_grid(
    images: np.ndarray, captions: Sequence[str], colours: Sequence[str], title: str, path: str | Path, columns: int = 9
) -> Path:
    """Images in a grid, each with a caption in its colour."""
    plt = _pyplot()
    n = len(images)
    cols = min(columns, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.35 * cols, 1.6 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = np.asarray(images[i])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(captions[i], fontsize=7, color=colours[i])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_misclassified(
    images: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int],
    confidence: Sequence[float],
    class_names: Sequence[str],
    path: str | Path,
    limit: int = 36,
) -> Path:
    """A grid of wrong answers: each image with its true and predicted label."""
    n = min(limit, len(images))
    captions = [
        f"true {class_names[int(y_true[i])]}\npred {class_names[int(y_pred[i])]} {confidence[i]:.0%}" for i in range(n)
    ]
    title = (
        f"Misclassified test images ({len(images)} in all, most confident first)"
        if n
        else "No misclassified test images"
    )
    return plot_image_grid(images[:n], captions, ["crimson"] * n, title, path)


def plot_predictions(
    images: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int | None],
    confidence: Sequence[float],
    path: str | Path,
    total: int | None = None,
) -> Path:
    """The random-test grid: every image with true and predicted labels, wrong ones in red;
    `total`: how many were read, when the grid shows only the first of them."""
    right = [p is not None and int(p) == int(t) for t, p in zip(y_true, y_pred)]
    captions = [
        f"true {t}  pred {'-' if p is None else p}\n{c:.0%}{'' if ok else '  WRONG'}"
        for t, p, c, ok in zip(y_true, y_pred, confidence, right)
    ]
    colours = ["darkgreen" if ok else "crimson" for ok in right]
    title = f"{sum(right)} of {len(right)} right ({sum(right) / max(1, len(right)):.0%})"
    if total is not None and total > len(right):
        title += f"; the first {len(right)} of {total:,} read"
    return plot_image_grid(images, captions, colours, title, path, columns=min(10, max(1, len(images))))


def plot_preprocessing(
    original, steps: dict[str, np.ndarray], probabilities: Sequence[float], answer: str, path: str | Path
) -> Path:
    """What preprocessing made of one image, step by step, and the model's ten probabilities."""
    plt = _pyplot()
    titles = {
        "grayscale": "grayscale",
        "ink_light": "ink made light",
        "background_removed": "paper removed",
        "ink_mask": "ink found",
        "mnist": "what the model sees (28x28)",
    }
    shown = [k for k in titles if k in steps]
    fig, axes = plt.subplots(
        1,
        len(shown) + 2,
        figsize=(2.3 * (len(shown) + 2), 2.9),
        gridspec_kw={"width_ratios": [1] * (len(shown) + 1) + [1.6]},
    )
    axes[0].imshow(original)
    axes[0].set_title("input", fontsize=9)
    for ax, key in zip(axes[1:], shown):
        ax.imshow(steps[key], cmap="gray", vmin=0, vmax=1, interpolation="nearest" if key == "mnist" else "antialiased")
        ax.set_title(titles[key], fontsize=9)
    for ax in axes[:-1]:
        ax.axis("off")
    bars = axes[-1]
    probs = np.asarray(probabilities, dtype=float)
    colours = ["tab:blue"] * len(probs)
    colours[int(np.argmax(probs))] = "tab:green"
    bars.barh(range(len(probs)), probs, color=colours)
    bars.set_yticks(range(len(probs)), [str(i) for i in range(len(probs))])
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_title(answer, fontsize=10)
    bars.tick_params(labelsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_explanation(explanation: Any, original: Any, title: str, path: str | Path, per_layer: int = 8) -> Path:
    """One figure for `digitrec explain`: the input, the 28x28 the model saw, the attribution over
    it, the ten probabilities, then each layer's first feature maps, labelled with name and shape."""
    plt = _pyplot()
    layers = explanation.layers
    fig = plt.figure(figsize=(2.0 * max(4, per_layer) * 0.75, 2.4 + 1.15 * len(layers)))
    grid = fig.add_gridspec(1 + len(layers), max(4, per_layer), height_ratios=[2.2] + [1] * len(layers))
    top = [fig.add_subplot(grid[0, i]) for i in range(3)]
    top[0].imshow(original, cmap=None if getattr(original, "mode", "L") != "L" else "gray")
    top[0].set_title("input", fontsize=9)
    top[1].imshow(explanation.image, cmap="gray", vmin=0, vmax=1)
    top[1].set_title("what the model saw", fontsize=9)
    top[2].imshow(explanation.image, cmap="gray", vmin=0, vmax=1)
    top[2].imshow(explanation.attribution, cmap="inferno", alpha=0.65)
    top[2].set_title(f"why {explanation.digit}", fontsize=9)
    bars = fig.add_subplot(grid[0, 4:] if per_layer >= 6 else grid[0, 3:])  # a column's gap for the y labels
    colours = ["#c0392b" if d == explanation.digit else "#7f8c8d" for d in range(len(explanation.probabilities))]
    bars.bar(range(len(explanation.probabilities)), explanation.probabilities, color=colours)
    bars.set_xticks(range(len(explanation.probabilities)))
    bars.set_ylim(0, 1)
    bars.set_title("probabilities", fontsize=9)
    for ax in top:
        ax.axis("off")
    for row, layer in enumerate(layers, start=1):
        if layer.maps.shape[:2] == (1, 1):  # one value per channel: a strip of its first channels
            ax = fig.add_subplot(grid[row, :])
            ax.imshow(layer.maps[0, 0, : per_layer * 8][None], cmap="viridis", aspect="auto")
            ax.set_yticks([])
            ax.set_title(
                f"{layer.name} {tuple(layer.maps.shape)}: its first {per_layer * 8} channels", fontsize=8, loc="left"
            )
            continue
        for k in range(per_layer):
            ax = fig.add_subplot(grid[row, k])
            ax.axis("off")
            if k < layer.maps.shape[-1]:
                ax.imshow(layer.maps[..., k], cmap="viridis")
            if k == 0:
                ax.set_title(f"{layer.name} {tuple(layer.maps.shape)}", fontsize=8, loc="left")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_filters(filters: np.ndarray, path: str | Path) -> Path:
    """The first convolution's kernels as small images (blue negative, red positive weights)."""
    plt = _pyplot()
    n = len(filters)
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.4), squeeze=False)
    limit = float(np.abs(filters).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(filters[k], cmap="bwr", vmin=-limit, vmax=limit)
    fig.suptitle(f"first layer: {n} filters of {filters.shape[1]}x{filters.shape[2]} (red +, blue -)", fontsize=9)
    return _save(fig, path)


def plot_test_map(points: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, path: str | Path) -> Path:
    """Test images placed by t-SNE of the last hidden layer, coloured by their true class;
    misclassified ones as black crosses labelled with what the model answered."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    colours = plt.get_cmap("tab10")
    for d in range(10):
        chosen = y_true == d
        ax.scatter(points[chosen, 0], points[chosen, 1], s=5, color=colours(d), label=str(d), alpha=0.7)
        if chosen.any():
            cx, cy = np.median(points[chosen], axis=0)
            ax.text(cx, cy, str(d), fontsize=14, weight="bold", ha="center", va="center")
    wrong = np.flatnonzero(y_true != y_pred)
    ax.scatter(points[wrong, 0], points[wrong, 1], s=30, marker="x", color="black", label="wrong")
    for i in wrong[:60]:
        ax.annotate(str(y_pred[i]), points[i], fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{len(points)} test images as the last hidden layer sees them (t-SNE); x: misclassified", fontsize=9)
    ax.legend(markerscale=2, fontsize=7, loc="best", ncol=2)
    return _save(fig, path)
