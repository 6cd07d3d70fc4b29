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
    shown = f"all {n}" if n == len(images) else f"the {n} most confident of {len(images)}"
    title = f"Misclassified test images: {shown}" if n else "No misclassified test images"
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
    bars.set_xlabel("probability", fontsize=8)
    bars.set_ylabel("digit", fontsize=8)
    bars.tick_params(labelsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_explanation(explanation: Any, original: Any, title: str, path: str | Path, per_layer: int = 8) -> Path:
    """One figure for `digitrec explain` (`explanation_figure`), saved as a PNG."""
    return _save(explanation_figure(explanation, original, title, per_layer), path)


def explanation_figure(explanation: Any, original: Any, title: str, per_layer: int = 8):
    """The input, the 28x28 the model saw, the attribution over it (titled with its method), the
    ten probabilities with labelled axes, then each layer's first feature maps, labelled with name
    and shape; laid out by matplotlib's constrained layout, so no text overlaps another."""
    plt = _pyplot()
    layers = explanation.layers
    columns = max(6, per_layer)
    fig = plt.figure(figsize=(1.45 * columns, 2.9 + 1.3 * len(layers)), layout="constrained")
    top, below = fig.subfigures(2, 1, height_ratios=[2.9, 1.3 * max(1, len(layers))])
    heads = top.subplots(1, 4, width_ratios=[1, 1, 1, 1.7])
    framed = {"input": original, "what the model saw (28x28)": explanation.image}
    for ax, (name, image) in zip(heads, framed.items()):
        grey = name != "input" or getattr(original, "mode", "L") == "L"
        ax.imshow(image, cmap="gray" if grey else None, **({"vmin": 0, "vmax": 1} if name != "input" else {}))
        ax.set_title(name, fontsize=9)
    heads[2].imshow(explanation.image, cmap="gray", vmin=0, vmax=1)
    heads[2].imshow(explanation.attribution, cmap="inferno", alpha=0.65)
    heads[2].set_title(f"why {explanation.digit}:\n{explanation.method}", fontsize=9)
    for ax in heads[:3]:  # a frame, so that a white or empty image still shows where it is
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor("#888888")
    bars = heads[3]
    probabilities = np.asarray(explanation.probabilities, dtype=float)
    colours = ["#c0392b" if d == explanation.digit else "#7f8c8d" for d in range(len(probabilities))]
    bars.bar(range(len(probabilities)), probabilities, color=colours)
    bars.set_xticks(range(len(probabilities)))
    bars.set_ylim(0, 1)
    bars.set_xlabel("digit", fontsize=8)
    bars.set_ylabel("probability", fontsize=8)
    bars.tick_params(labelsize=7)
    bars.set_title("the model's answer", fontsize=9)
    top.suptitle(title, fontsize=10)
    if layers:
        rows = below.subfigures(len(layers), 1) if len(layers) > 1 else [below]
        for row, layer in zip(rows, layers):
            row.suptitle(f"{layer.name} {tuple(layer.maps.shape)}", fontsize=8, x=0.01, ha="left")
            if layer.maps.shape[:2] == (1, 1):  # one value per channel: a strip of its first channels
                ax = row.subplots()
                ax.imshow(layer.maps[0, 0, : per_layer * 8][None], cmap="viridis", aspect="auto")
                ax.set_yticks([])
                ax.set_xlabel(f"its first {per_layer * 8} channels", fontsize=7)
                ax.tick_params(labelsize=7)
                continue
            for k, ax in enumerate(row.subplots(1, columns)):
                ax.axis("off")
                if k < min(per_layer, layer.maps.shape[-1]):
                    ax.imshow(layer.maps[..., k], cmap="viridis")
    return fig


# The most misclassified test images numbered and listed beside the test map.
LISTED_WRONG = 80


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


def plot_test_map(
    points: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, path: str | Path, index: np.ndarray | None = None
) -> Path:
    """Test images placed by t-SNE of the last hidden layer, coloured by their true class; every
    misclassified one ringed and numbered, and listed beside the map (`index`: their positions in
    the test set, to find each)."""
    plt = _pyplot()
    wrong = np.flatnonzero(y_true != y_pred)
    listed = wrong[:LISTED_WRONG]
    fig, (ax, side) = plt.subplots(
        1, 2, figsize=(10.4, 6.4), width_ratios=[2.4, 1 + 0.4 * (len(listed) > 40)], layout="constrained"
    )
    colours = plt.get_cmap("tab10")
    for d in range(10):
        chosen = y_true == d
        ax.scatter(points[chosen, 0], points[chosen, 1], s=5, color=colours(d), label=str(d), alpha=0.6)
        if chosen.any():
            cx, cy = np.median(points[chosen], axis=0)
            ax.text(cx, cy, str(d), fontsize=14, weight="bold", ha="center", va="center", alpha=0.8)
    ax.scatter(points[wrong, 0], points[wrong, 1], s=70, facecolors="none", edgecolors="black", linewidths=1.2,
               label="misclassified")  # fmt: skip
    for n, i in enumerate(listed, start=1):
        ax.annotate(str(n), points[i], fontsize=6, xytext=(4, 4), textcoords="offset points", color="black")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE 1", fontsize=8)
    ax.set_ylabel("t-SNE 2", fontsize=8)
    ax.set_title(f"{len(points)} test images as the last hidden layer sees them (t-SNE)", fontsize=9)
    legend = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.06), ncol=11, frameon=False)
    for handle in legend.legend_handles[:10]:  # the class dots, large enough to tell their colours
        handle.set_sizes([25])
    side.axis("off")
    where = (lambda i: f"#{int(index[i])}") if index is not None else (lambda i: "")
    lines = [f"{n:>2}. {int(y_true[i])} read as {int(y_pred[i])} {where(i)}" for n, i in enumerate(listed, start=1)]
    if len(wrong) > len(listed):
        lines.append(f"… and {len(wrong) - len(listed)} more")
    heading = f"misclassified: {len(wrong)}" + (" (test set #)" if index is not None else "")
    half = (len(lines) + 1) // 2
    columns = [lines[:half], lines[half:]] if len(lines) > 40 else [lines]
    for k, column in enumerate(c for c in columns if c):
        side.text(0.5 * k, 1.0, "\n".join(column), va="top", fontsize=6, family="monospace", transform=side.transAxes)
    side.set_title(heading, fontsize=9, loc="left")
    return _save(fig, path)
