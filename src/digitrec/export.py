"""Export a trained model for serving: a SavedModel for TF Serving, and a LiteRT/TFLite file.

    <out>/savedmodel/1/          SavedModel, signature `serving_default` (versioned, as TF Serving expects)
    <out>/model.tflite           LiteRT / TFLite flatbuffer (float32)

Each export is checked against the Keras model on the test set (the share of images on which
both give the same digit is reported). Writes go to temporary names and are renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from . import DigitrecError, data, store
from .config import QUANTIZATIONS
from ._tf import tensorflow

FORMATS = ("savedmodel", "tflite")


def _export_savedmodel(model, folder: Path) -> None:
    model.export(str(folder), format="tf_saved_model", verbose=False)


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder `new` at `target`, keeping the old one until the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def tflite_bytes(saved_model_dir: str | Path, quantize: str = "none", calibration: np.ndarray | None = None) -> bytes:
    """The SavedModel as a LiteRT flatbuffer; `calibration` (images like the inputs) for int8."""
    tf = tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        if calibration is None or not len(calibration):
            raise DigitrecError("int8 quantization needs calibration images")
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    return converter.convert()


class TFLiteModel:
    """A LiteRT/TFLite model behind a predict(x) -> probabilities call. With `ai-edge-litert`
    installed this never imports TensorFlow (fast start); else it uses TensorFlow's interpreter."""

    def __init__(self, model: bytes | str | Path, threads: int | None = None):
        content = Path(model).read_bytes() if isinstance(model, (str, Path)) else model
        # LiteRT alone would use one core; $DIGITREC_LITERT_THREADS overrides (1 suits many workers).
        threads = threads or int(os.environ.get("DIGITREC_LITERT_THREADS") or 0) or os.cpu_count() or 1
        from ._tf import filtered_stderr

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            Interpreter = tensorflow().lite.Interpreter
        with filtered_stderr():
            self.interpreter = Interpreter(model_content=content, num_threads=threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

        self._shape: tuple | None = None
        # One interpreter holds one set of tensors: calls from several threads (the web service's
        # thread pool) must take turns, or one call's tensors are resized under another's feet.
        self._lock = threading.Lock()
        self.input_shape = (None, *(int(d) for d in self.input["shape"][1:]))
        self.output_shape = (None, int(self.output["shape"][-1]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        with self._lock:
            if x.shape != self._shape:  # re-plan the tensors only when the batch size changes
                self.interpreter.resize_tensor_input(self.input["index"], x.shape)
                self.interpreter.allocate_tensors()
                self._shape = x.shape
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            return np.array(self.interpreter.get_tensor(self.output["index"]))


def _saved_model_predict(folder: Path, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    tf = tensorflow()
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    out = []
    for i in range(0, len(x), batch):
        result = signature(tf.constant(x[i:i + batch]))
        out.append(np.asarray(next(iter(result.values()))))
    return np.concatenate(out)


def export_model(target: str | Path | None = None, fmt: str = "all", out: str | Path | None = None,
                 runs_root: str | Path | None = None, check: bool = True, limit_test: int | None = None,
                 quantize: str = "none") -> dict[str, Any]:
    """Export the model as `fmt` (savedmodel, tflite or all) into `out`; return what was written.

    Args:
      target: a model file or run folder (None: the newest run).
      fmt: which format(s).
      out: the folder (default: `<run folder>/export`, or ./export for a loose model file).
      check: compare each export's answers with the Keras model's on the test set.
      limit_test: check on the first N test images only.
      quantize: the LiteRT file's quantization (QUANTIZATIONS); int8 calibrates on 500 training images.
    """
    formats = FORMATS if fmt == "all" else (fmt,)
    if any(f not in FORMATS for f in formats):
        raise DigitrecError(f"unknown export format {fmt!r}; choose savedmodel, tflite or all")
    if quantize not in QUANTIZATIONS:
        raise DigitrecError(f"unknown quantization {quantize!r}; choose {', '.join(QUANTIZATIONS)}")
    path = store.find_model_file(target, runs_root)
    model = store.load_model(path)
    folder = path if path.is_dir() else path.parent
    out = Path(out) if out else (folder / "export" if (folder / "metadata.json").is_file() else Path("export"))
    out.mkdir(parents=True, exist_ok=True)

    report: dict[str, Any] = {"model": str(path), "out": str(out), "exports": {}}
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out) as tmp:
        staged = Path(tmp) / "savedmodel"
        _export_savedmodel(model, staged)
        meta = store.read_json(folder / "metadata.json") if (folder / "metadata.json").is_file() else {}
        calibrate = quantize == "int8" and "tflite" in formats
        dataset = data.load_dataset(meta.get("dataset", {}).get("name", "mnist")) if check or calibrate else None
        calibration = data.scale_images(dataset.x_train[:500]) if calibrate else None
        tflite = tflite_bytes(staged, quantize, calibration) if "tflite" in formats else None
        if check:
            x = data.scale_images(dataset.x_test[:limit_test])
            reference = np.asarray(model.predict(x, batch_size=1000, verbose=0)).argmax(axis=1)
        if "savedmodel" in formats:
            target_dir = out / "savedmodel" / "1"
            target_dir.parent.mkdir(parents=True, exist_ok=True)
            _replace_dir(staged, target_dir)
            item: dict[str, Any] = {"path": str(target_dir), "signature": "serving_default"}
            if check:
                item["agreement"] = float((_saved_model_predict(target_dir, x).argmax(axis=1) == reference).mean())
                item["checked"] = int(len(x))
            report["exports"]["savedmodel"] = item
        if tflite is not None:
            target_file = store.write_bytes(out / "model.tflite", tflite)
            item = {"path": str(target_file), "bytes": len(tflite), "quantize": quantize}
            if check:
                lite = TFLiteModel(tflite)
                probs = np.concatenate([lite.predict(x[i:i + 1000]) for i in range(0, len(x), 1000)])
                item["agreement"] = float((probs.argmax(axis=1) == reference).mean())
                item["checked"] = int(len(x))
            report["exports"]["tflite"] = item
    return report
