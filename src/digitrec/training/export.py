"""Export a trained model for serving: a SavedModel for TF Serving, and a LiteRT/TFLite file.

    <out>/savedmodel/1/          SavedModel, signature `serving_default` (versioned, as TF Serving expects)
    <out>/model.tflite           LiteRT / TFLite flatbuffer (float32, or --quantize)
    <run>/model.tflite           a run's own LiteRT file, written by training (`litert_for_run`)

Each export is checked against the Keras model on the test set (the share of images on which
both give the same digit is reported). Writes go to temporary names and are renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import store
from digitrec._tf import backend, tensorflow
from digitrec.data import datasets
from digitrec.errors import DigitrecError
from digitrec.files import first_line, read_json, write_bytes, write_json
from digitrec.runtime import LiteRTModel, in_batches
from digitrec.training.config import QUANTIZATIONS

FORMATS = ("savedmodel", "tflite")
# A run's own LiteRT file: int8 weights (a quarter of the size, the same answers as Keras on all
# but a few test images), and kept only where it agrees with Keras on this share of them.
RUN_QUANTIZATION = "dynamic"
MIN_AGREEMENT = 0.99


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
        converter.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))
    return converter.convert()


def litert_for_run(
    model, run_dir: str | Path, x_check: np.ndarray, reference: np.ndarray, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Write `<run_dir>/model.tflite` (int8 weights, as the shipped model's) from the Keras `model`,
    so that the front ends answer from it without TensorFlow.

    The file is checked on `x_check` against `reference` (the Keras model's digits there) and kept
    only when they agree on at least MIN_AGREEMENT of the images. Returns metadata.json's record;
    where there is no file, its "error" says why (and `log`, where given, says how it went).
    """
    record = _litert_for_run(model, Path(run_dir), x_check, reference)
    if log is not None and record.get("file"):
        log(
            f"LiteRT file {Path(run_dir) / record['file']}: the same digit as Keras on "
            f"{record['agreement_with_keras']:.2%} of {record['checked']} test images"
        )
    elif log is not None:
        log(f"no LiteRT file: {record['error']}; the front ends answer with Keras")
    return record


def _litert_for_run(model, run_dir: Path, x_check: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    if backend() != "tensorflow":
        return {
            "file": None,
            "error": f"this run trained on Keras's {backend()} backend, and LiteRT files are written on "
            "TensorFlow's: `digitrec export --model RUN --to-run` (no KERAS_BACKEND) writes it",
        }
    try:
        with tempfile.TemporaryDirectory(prefix=".litert-", dir=run_dir) as tmp:
            _export_savedmodel(model, Path(tmp) / "savedmodel")
            content = tflite_bytes(Path(tmp) / "savedmodel", RUN_QUANTIZATION)
        digits = _litert_predict(LiteRTModel(content), x_check).argmax(axis=1)
    except Exception as exc:  # noqa: BLE001 - the run stands without it; the front ends use Keras
        return {"file": None, "error": f"the LiteRT conversion failed ({first_line(exc)})"}
    agreement = float((digits == reference).mean()) if len(reference) else 1.0
    record: dict[str, Any] = {
        "file": store.LITERT_FILE,
        "quantize": RUN_QUANTIZATION,
        "bytes": len(content),
        "agreement_with_keras": agreement,
        "checked": int(len(reference)),
    }
    if agreement < MIN_AGREEMENT:
        (run_dir / store.LITERT_FILE).unlink(missing_ok=True)
        return {**record, "file": None, "error": f"agrees with Keras on only {agreement:.2%} of the test images"}
    write_bytes(run_dir / store.LITERT_FILE, content)
    return record


def _litert_predict(lite: LiteRTModel, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    return in_batches(lite.predict, x, batch)


def add_litert_to_run(
    target: str | Path | None = None, runs_root: str | Path | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Give a finished run its LiteRT file (`digitrec export --to-run`), as training does now, and
    record it in the run's metadata.json."""
    choice = store.resolve_model(target, runs_root, pretrained=False)
    run_dir = choice.run_dir
    if run_dir is None or choice.shipped or not (run_dir / "model.keras").is_file():
        raise DigitrecError(f"{target or choice.path} is not a run folder with a model.keras and metadata.json")
    meta = dict(choice.metadata)
    model = store.load_model(run_dir / "model.keras")
    dataset = datasets.load_dataset(meta.get("dataset", {}).get("name", "mnist"))
    x = datasets.scale_images(dataset.x_test[: meta.get("dataset", {}).get("test_samples")])
    reference = np.asarray(model.predict(x, batch_size=1000, verbose=0)).argmax(axis=1)
    record = litert_for_run(model, run_dir, x, reference, log)
    meta["litert"] = record
    files = meta.setdefault("model", {}).setdefault("files", {})
    if record.get("file"):
        files["litert"] = record["file"]
    write_json(run_dir / "metadata.json", meta)
    return record


def _saved_model_predict(folder: Path, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    tf = tensorflow()
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return in_batches(lambda part: next(iter(signature(tf.constant(part)).values())), x, batch)


def export_model(
    target: str | Path | None = None,
    fmt: str = "all",
    out: str | Path | None = None,
    runs_root: str | Path | None = None,
    check: bool = True,
    limit_test: int | None = None,
    quantize: str = "none",
) -> dict[str, Any]:
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
        meta = read_json(folder / "metadata.json") if (folder / "metadata.json").is_file() else {}
        calibrate = quantize == "int8" and "tflite" in formats
        dataset = datasets.load_dataset(meta.get("dataset", {}).get("name", "mnist")) if check or calibrate else None
        calibration = datasets.scale_images(dataset.x_train[:500]) if dataset is not None and calibrate else None
        tflite = tflite_bytes(staged, quantize, calibration) if "tflite" in formats else None
        if dataset is not None and check:
            x = datasets.scale_images(dataset.x_test[:limit_test])
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
            target_file = write_bytes(out / "model.tflite", tflite)
            item = {"path": str(target_file), "bytes": len(tflite), "quantize": quantize}
            if check:
                item["agreement"] = float((_litert_predict(LiteRTModel(tflite), x).argmax(axis=1) == reference).mean())
                item["checked"] = int(len(x))
            report["exports"]["tflite"] = item
    return report
