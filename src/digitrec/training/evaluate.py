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

from digitrec import store
from digitrec.data import datasets
from digitrec.errors import DigitrecError, OptionError
from digitrec.files import read_json, write_json, write_text
from digitrec.runtime import in_batches


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
        f"accuracy {metrics['test_accuracy']:.4f} ({metrics['errors']} error{'' if metrics['errors'] == 1 else 's'} "
        f"in {metrics['test_samples']}), "
        f"loss {metrics['test_loss']:.4f}"
    )
    return "\n".join(lines) + "\n"


def predict_probabilities(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities for float images (N,H,W,C), in batches, from a Keras model or a
    runtime backend (`digitrec.runtime`: anything with a `backend` and `predict(x)`)."""
    if hasattr(model, "backend"):
        return in_batches(model.predict, x, 1000).astype(np.float64)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


@dataclass
class Score:
    """A model measured on a test set: the evaluation, its metrics, and the images it saw."""

    evaluation: Evaluation
    metrics: dict[str, Any]
    x: np.ndarray  # the test images as the model took them (scaled to 0-1)


def score(
    model: Any,
    dataset: Any,
    out_dir: str | Path,
    history: dict[str, list[float]] | None = None,
    title: str = "",
    limit_test: int | None = None,
    keras_model: Any = None,
    views: ViewsProcess | None = None,
) -> Score:
    """Measure `model` (Keras, or a runtime backend) on the test set of `dataset` (its first
    `limit_test` images) and write the evaluation into `out_dir`: what training, ensembles and
    `digitrec evaluate` all do with a finished model. With the Keras model (`model` itself, or the
    one behind a LiteRT file), the network's views too (`network.write_views`), or with `views`,
    in that process, while this one draws its charts."""
    from digitrec.training import network

    x_test, y_test = dataset.x_test[:limit_test], dataset.y_test[:limit_test]
    x = datasets.scale_images(x_test)
    evaluation = Evaluation(dataset.info.class_names, y_test.astype(np.int64), predict_probabilities(model, x))
    if views is not None:
        views.draw(network.views_sample(x, evaluation.y_true, evaluation.y_pred))
    metrics = write_evaluation(evaluation, x_test, out_dir, history, title=title)
    if views is not None:
        views.wait()
    elif keras_model is not None:
        network.write_views(keras_model, x, evaluation.y_true, evaluation.y_pred, out_dir)
    return Score(evaluation, metrics, x)


class ViewsProcess:
    """The network's views (`network.draw_views`) drawn by a process of their own: it imports
    TensorFlow and loads the Keras model while this one measures the LiteRT file and draws its
    charts, then maps the test set (`digitrec evaluate --jobs 2` and up). Started fresh ("spawn")."""

    def __init__(self, keras_file: str | Path, out_dir: str | Path):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_draw_views, args=(child, str(keras_file), str(out_dir)), daemon=True)
        self.process.start()
        child.close()

    def draw(self, sample: tuple[np.ndarray, ...] | None) -> None:
        """Hand over what the test map shows (`network.views_sample`)."""
        try:
            self.conn.send(sample)
        except OSError:  # the process failed already (it could not load the model): `wait` says why
            pass

    def wait(self) -> None:
        """Until the views are drawn; a failure there is one line here."""
        try:
            error = self.conn.recv()
        except EOFError:
            self.process.join()
            error = f"the process ended with exit code {self.process.exitcode}"
        if error:
            raise DigitrecError(f"drawing the network's filters and test map failed: {error}")

    def close(self) -> None:
        """End the process (at once if nothing was handed over: evaluation failed first)."""
        self.conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _draw_views(conn: Any, keras_file: str, out_dir: str) -> None:
    try:
        from digitrec import store
        from digitrec.training import network

        model = store.load_model(keras_file)
        sample = conn.recv()
        network.draw_views(model, sample, out_dir)
        failure = None
    except EOFError:  # this process's parent stopped before handing anything over
        return
    except DigitrecError as exc:  # a sentence already ("cannot write …")
        failure = str(exc)
    except Exception as exc:  # noqa: BLE001 - said in the parent, in one line
        failure = f"{type(exc).__name__}: {exc}"
    try:
        conn.send(failure)
    except OSError:  # the parent failed first (its own line says why) and stopped listening
        pass


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
    from digitrec import plots

    out_dir = Path(out_dir)
    metrics = evaluation.metrics()
    write_json(out_dir / "metrics.json", metrics)
    write_text(out_dir / "report.txt", report_text(metrics, title))
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


def _recorded_samples(choice: store.ModelChoice, default: int) -> int:
    """How many test images the run folder's metrics were measured on (by its training, or by
    the last `evaluate` written there); `default` where it has none."""
    metrics = choice.run_dir / "metrics.json" if choice.run_dir is not None else None
    if metrics is not None and metrics.is_file():
        try:
            return int(read_json(metrics)["test_samples"])
        except (DigitrecError, KeyError, TypeError, ValueError):
            pass  # an unreadable record is no record to keep
    return int(choice.metadata.get("dataset", {}).get("test_samples") or default)


def evaluate_saved_model(
    target: str | Path | None,
    out_dir: str | Path | None = None,
    dataset_name: str | None = None,
    data_file: str | Path | None = None,
    data_dir: str | Path | None = None,
    limit_test: int | None = None,
    runs_root: str | Path | None = None,
    jobs: int = 1,
) -> tuple[Path, dict[str, Any]]:
    """Recompute metrics and charts for a saved model, in any format, without retraining
    (`digitrec evaluate`).

    The dataset comes from the model's metadata.json when it has one. Results go to the model's
    run folder, or `out_dir`, or a new `runs/<time>-eval-<name>` folder for a loose model file
    (or the shipped model: never into the installed package) and for fewer test images than the
    run's metrics were measured on (`limit_test`: a record of more is never replaced). With `jobs` of 2 or more, a model
    answered from its LiteRT file gets its Keras views (filters, test map) drawn by a second
    process meanwhile (`ViewsProcess`): the same files, sooner.
    """
    import datetime as dt

    from digitrec.runtime import load_runtime

    choice = store.resolve_model(target, runs_root)
    name = dataset_name or choice.metadata.get("dataset", {}).get("name") or "mnist"
    model = load_runtime(choice)  # a run's LiteRT file where it has one: what the front ends answer with
    dataset = datasets.load_dataset(name, data_dir, data_file=data_file)
    expected = tuple(int(d) for d in model.input_shape[1:])
    if expected != tuple(dataset.info.image_shape):
        raise OptionError(
            "dataset",
            f"{dataset.name} has images of shape {dataset.info.image_shape}, but {choice.path} takes {expected}; "
            "name the dataset it was trained on",
        )
    if out_dir is None:
        # Fewer test images never replace a run's record of more: they get a folder of their own.
        part = limit_test is not None and limit_test < _recorded_samples(choice, len(dataset.y_test))
        in_run = choice.run_dir is not None and not choice.shipped and not part
        stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}-eval-{choice.name.replace('.', '-')}"
        stamp += f"-first{limit_test}" if part else ""
        out_dir = choice.run_dir if in_run and choice.run_dir else store.new_run_dir(runs_root, stamp)
    history_file = choice.run_dir / "history.json" if choice.run_dir is not None else None
    history = read_json(history_file) if history_file is not None and history_file.is_file() else None
    history = history or choice.metadata.get("history")  # the shipped model carries its own
    title = f"{choice.name} ({model.backend}) on {dataset.name} test set"
    if choice.keras_file is not None and jobs > 1 and model.backend != "keras":
        views = ViewsProcess(choice.keras_file, out_dir)
        try:
            result = score(model, dataset, out_dir, history, title, limit_test, views=views)
        finally:
            views.close()
    else:
        keras_model = store.load_model(choice.keras_file) if choice.keras_file is not None else None
        result = score(model, dataset, out_dir, history, title, limit_test, keras_model)
    return Path(out_dir), {**result.metrics, "model": choice.name, "backend": model.backend}
