"""Metrics arithmetic: confusion matrix, per-class report, loss, misclassified ordering."""

import numpy as np
import pytest

from digitrec.training.evaluate import Evaluation, confusion_matrix, per_class_report, report_text


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_per_class_report_values():
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    rows = per_class_report(cm, ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert rows[1]["precision"] == 0.5 and rows[1]["recall"] == 1.0 and rows[1]["f1"] == pytest.approx(2 / 3)
    assert rows[2]["precision"] == 1.0 and rows[2]["recall"] == pytest.approx(2 / 3)
    # A class never predicted and never present has zeros, not NaN.
    assert per_class_report(np.zeros((2, 2), int), ["x", "y"])[0]["f1"] == 0.0


def test_evaluation_metrics_and_most_confident_errors_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.95, 0.05]])
    ev = Evaluation(("0", "1"), np.array([0, 1, 1, 1]), probs)
    assert ev.accuracy == 0.5
    assert ev.loss == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.05])))
    assert ev.misclassified().tolist() == [3, 2]
    metrics = ev.metrics()
    assert metrics["errors"] == 2 and metrics["confusion_matrix"] == [[1, 0], [2, 1]]
    text = report_text(metrics, "title")
    assert text.startswith("title") and "macro avg" in text and "accuracy 0.5000 (2 errors in 4)" in text


def test_the_report_says_one_error_in_the_singular():
    ev = Evaluation(("0", "1"), np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    assert "accuracy 0.6667 (1 error in 3), loss" in report_text(ev.metrics())
