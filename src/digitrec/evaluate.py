"""Metrics of a model on a test set: accuracy, loss, confusion matrix, per-class report,
misclassified examples; and writing them (metrics.json, report.txt, charts) into a folder.

The arithmetic is plain numpy, so it is tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import store


@dataclass
class Evaluation:
    """Everything measured on one test set."""

    class_names: tuple[str, ...]
    y_true: np.ndarray
    probabilities: np.ndarray

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.y_pred == self.y_true).mean())

    @property
    def loss(self) -> float:
        """Mean categorical cross-entropy, clipped as Keras clips it."""
        p = self.probabilities[np.arange(len(self.y_true)), self.y_true]
        return float(-np.log(np.clip(p, 1e-7, 1.0)).mean())

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.y_true, self.y_pred, len(self.class_names))

    def misclassified(self) -> np.ndarray:
        """Indices of wrong answers, the most confidently wrong first."""
        wrong = np.flatnonzero(self.y_pred != self.y_true)
        confidence = self.probabilities[wrong, self.y_pred[wrong]]
        return wrong[np.argsort(-confidence, kind="stable")]

    def metrics(self) -> dict[str, Any]:
        cm = self.confusion
        return {
            "test_accuracy": self.accuracy,
            "test_loss": self.loss,
            "test_samples": int(len(self.y_true)),
            "errors": int((self.y_pred != self.y_true).sum()),
            "per_class": per_class_report(cm, self.class_names),
            "confusion_matrix": cm.tolist(),
        }


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def per_class_report(cm: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i, name in enumerate(class_names)
    ]


def report_text(metrics: dict[str, Any], title: str = "") -> str:
    """A per-class table in the style of scikit-learn's classification report."""
    rows = metrics["per_class"]
    width = max(12, *(len(r["class"]) for r in rows))
    lines = [title] if title else []
    lines.append(f"{'class':>{width}}  precision     recall         f1    support")
    for r in rows:
        lines.append(
            f"{r['class']:>{width}}  {r['precision']:9.4f}  {r['recall']:9.4f}  {r['f1']:9.4f}  {r['support']:9d}"
        )
    support = np.array([r["support"] for r in rows], dtype=np.float64)
    for label, weights in (("macro avg", np.ones_like(support)), ("weighted avg", support)):
        avg = {k: float(np.average([r[k] for r in rows], weights=weights)) for k in ("precision", "recall", "f1")}
        lines.append(
            f"{label:>{width}}  {avg['precision']:9.4f}  {avg['recall']:9.4f}  {avg['f1']:9.4f}  "
            f"{int(support.sum()):9d}"
        )
    lines.append("")
    lines.append(
        f"accuracy {metrics['test_accuracy']:.4f} ({metrics['errors']} errors in {metrics['test_samples']}), "
        f"loss {metrics['test_loss']:.4f}"
    )
    return "\n".join(lines) + "\n"


def predict_probabilities(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities for float images (N,H,W,C), in batches."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def write_evaluation(
    evaluation: Evaluation,
    images: np.ndarray,
    out_dir: str | Path,
    history: dict[str, list[float]] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Write metrics.json, report.txt and the charts into `out_dir`; return the metrics.

    Args:
      evaluation: the measured test set.
      images: the test images (uint8 or float, (N,H,W[,C])) for the misclassified grid.
      out_dir: the run folder.
      history: per-epoch training history; when given, the training curves are drawn too.
      title: a heading for report.txt.
    """
    from . import plots

    out_dir = Path(out_dir)
    metrics = evaluation.metrics()
    store.write_json(out_dir / "metrics.json", metrics)
    store.write_text(out_dir / "report.txt", report_text(metrics, title))
    plots.plot_confusion_matrix(evaluation.confusion, evaluation.class_names, out_dir / "confusion_matrix.png")
    wrong = evaluation.misclassified()
    plots.plot_misclassified(
        images[wrong],
        evaluation.y_true[wrong],
        evaluation.y_pred[wrong],
        evaluation.probabilities[wrong, evaluation.y_pred[wrong]],
        evaluation.class_names,
        out_dir / "misclassified.png",
    )
    if history:
        plots.plot_training_curves(history, out_dir / "training_curves.png")
    return metrics
