"""Run folders, the one answer to "which model?", and saving/loading models in every format.
Files are written whole (`files`; its functions are reachable from here too).

Everything a training run produces lives in one folder, `runs/<name>/`. Every file is written
to a temporary name beside its target and renamed over it only once complete, so an interrupted
write (Ctrl+C, a full disk, a crash) never leaves a half-written model where a good one was.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitrec.errors import DigitrecError
from digitrec.files import atomic_path, first_line, read_json, write_text


class NoModelError(DigitrecError):
    """No model where one was asked for: at `path`, or (`path` None) no run yet and no shipped model."""

    def __init__(self, message: str, path: Path | None = None):
        self.path = path
        super().__init__(message)


MODEL_FILES = ("model.keras", "model.h5")
LATEST = "latest"
# The model that ships inside the package (`make pretrained`), used when no run exists yet.
PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "model.keras"


# ---------------------------------------------------------------- run folders


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds run folders: `root`, else $DIGITREC_RUNS, else ./runs."""
    return Path(root or os.environ.get("DIGITREC_RUNS") or "runs")


def new_run_dir(root: str | os.PathLike | None, name: str) -> Path:
    """Create and return a fresh run folder `root/name` (suffixed -2, -3… if it exists)."""
    root = runs_root(root)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    candidate, n = root / safe, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = root / f"{safe}-{n}"
        except OSError as exc:
            raise DigitrecError(f"cannot create run folder {candidate}: {exc.strerror or exc}") from None


def default_run_name(dataset: str, model: str, now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{dataset}-{model}"


def mark_latest(run_dir: str | os.PathLike) -> Path:
    """Point `<runs root>/latest` at `run_dir` (a relative symlink; a text file where links fail)."""
    run_dir = Path(run_dir)
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(run_dir.name, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        if link.is_symlink():
            link.unlink()
        write_text(link, run_dir.name + "\n")
    return link


def latest_run(root: str | os.PathLike | None = None) -> Path | None:
    """The run that answers by default: the one `latest` under the runs root points to (training
    marks each finished run so), else, without that link, the run folder there whose model was
    saved last (a run copied in); None when there is neither."""
    link = runs_root(root) / LATEST
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
    elif link.is_file():
        target = link.parent / link.read_text(encoding="utf-8").strip()
    else:
        return _newest_run_folder(runs_root(root))
    return target if target.is_dir() else None


def _newest_run_folder(root: Path) -> Path | None:
    try:
        models = [model for folder in root.iterdir() for model in (folder / name for name in MODEL_FILES)
                  if not folder.name.startswith(".") and model.is_file()]  # fmt: skip
    except OSError:  # no runs folder
        return None
    return max(models, key=lambda m: m.stat().st_mtime).parent if models else None


def find_model_file(
    target: str | os.PathLike | None, root: str | os.PathLike | None = None, pretrained: bool = True
) -> Path:
    """Resolve what a user named (a model file, a run folder, a SavedModel folder or nothing).

    Nothing means the newest run, else (with `pretrained`) the model shipped in the package.
    Raises NoModelError when there is none.
    """
    if target is None:
        run = latest_run(root)
        if run is None:
            if pretrained and PRETRAINED.is_file():
                return PRETRAINED
            raise NoModelError(f"no trained model found in {runs_root(root)}/")
        target = run
    path = Path(target)
    if not path.exists():
        raise NoModelError(f"no model at {path}", path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return path
        for name in MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise DigitrecError(
            f"{path} is a folder without a model (expected {' or '.join(MODEL_FILES)} or saved_model.pb)"
        )
    return path


# ---------------------------------------------------------------- which model answers

LITERT_FILE = "model.tflite"


@dataclass(frozen=True)
class ModelChoice:
    """The answer to "which model answers?": what to load, from where, and what to call it.

    Attributes:
      path: the file (or SavedModel folder) the runtime loads.
      backend: "litert" for a `.tflite` file, else "keras".
      run_dir: the run folder the model belongs to (the shipped model's folder too), or None.
      metadata: that folder's metadata.json ({} for a loose model file).
      name: what answers say: the run folder's name, or the file's name for a loose file.
      default: True when no model was named (the newest run, else the shipped model).
    """

    path: Path
    backend: str
    run_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    default: bool = False

    @property
    def keras_file(self) -> Path | None:
        """The Keras file behind this model: itself, or a LiteRT file's `model.keras` beside it;
        None where there is none (a loose LiteRT file, a SavedModel folder)."""
        path = self.path.with_name("model.keras") if self.backend == "litert" else self.path
        return path if path.suffix in (".keras", ".h5") and path.is_file() else None

    @property
    def shipped(self) -> bool:
        return self.run_dir is not None and self.run_dir == PRETRAINED.parent

    def _words(self) -> tuple[str, str]:
        what = "the shipped model" if self.shipped else f"run {self.name}" if self.run_dir else self.name
        return what, "LiteRT" if self.backend == "litert" else "Keras"

    def label(self) -> str:
        """The model for people, as every front end names it: "run 2026…-mnist-seed_cnn (LiteRT)"."""
        what, backend = self._words()
        return f"{what} ({backend})"

    def describe(self) -> str:
        """The label and the file: "run 2026…-mnist-seed_cnn (LiteRT, runs/…/model.tflite)"."""
        what, backend = self._words()
        return f"{what} ({backend}, {self.path})"


def resolve_model(
    target: str | os.PathLike | None = None, root: str | os.PathLike | None = None, pretrained: bool = True
) -> ModelChoice:
    """Resolve a `--model` value, or nothing, to the model that answers.

    Nothing means the newest run, else (with `pretrained`) the shipped model. A run folder (or
    nothing) answers from its LiteRT file when it has one, which starts without TensorFlow; a file
    named outright is loaded as it is. Raises NoModelError when there is none.
    """
    path = find_model_file(target, root, pretrained)
    named_file = target is not None and Path(target).is_file()
    folder = path if path.is_dir() else path.parent
    run_dir = folder if (folder / "metadata.json").is_file() else None
    if not named_file and run_dir is not None and (run_dir / LITERT_FILE).is_file():
        path = run_dir / LITERT_FILE
    metadata: dict[str, Any] = {}
    if run_dir is not None:
        try:
            metadata = read_json(run_dir / "metadata.json")
        except DigitrecError:
            metadata = {}
    name = run_dir.name if run_dir is not None else path.name
    return ModelChoice(
        path,
        "litert" if path.suffix == ".tflite" else "keras",
        run_dir,
        metadata if isinstance(metadata, dict) else {},
        name,
        target is None,
    )


# ---------------------------------------------------------------- models


def save_model(model: Any, run_dir: str | os.PathLike) -> dict[str, Path]:
    """Save `model` as `model.keras` (native) and `model.h5` (HDF5) in `run_dir`, atomically."""
    import logging

    run_dir = Path(run_dir)
    written = {}
    absl = logging.getLogger("absl")
    for name in MODEL_FILES:
        target = run_dir / name
        level = absl.level
        absl.setLevel(logging.ERROR)  # HDF5 is saved on purpose; Keras's "legacy format" warning is noise here
        try:
            with atomic_path(target) as tmp:
                model.save(tmp, overwrite=True)
        finally:
            absl.setLevel(level)
        written[target.suffix.lstrip(".")] = target
    return written


def _keras_version_in(path: Path) -> str | None:
    """The Keras version recorded inside a model file, if it can be read without loading it."""
    try:
        if path.suffix == ".keras" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("metadata.json")).get("keras_version")
        if path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as fh:
                version = fh.attrs.get("keras_version")
                return version.decode() if isinstance(version, bytes) else version
    except Exception:  # noqa: BLE001 - this is only a hint for a message
        return None
    return None


def load_model(target: str | os.PathLike | None = None, root: str | os.PathLike | None = None):
    """Load a Keras model from a `.keras` file, an `.h5` file, a SavedModel folder or a run folder.

    Every failure (missing, truncated, not a model, saved by an incompatible Keras) becomes one
    DigitrecError sentence. `.keras` files load in Keras's safe mode (no arbitrary code).
    """
    path = find_model_file(target, root)
    if path.is_dir():
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise DigitrecError(
                f"{path} is not a Keras model file (not a .keras archive: truncated or another kind of file)"
            )
    elif suffix in (".h5", ".hdf5"):
        import h5py

        if not h5py.is_hdf5(path):
            raise DigitrecError(f"{path} is not an HDF5 model file (truncated or another kind of file)")
    elif suffix == ".tflite":
        raise DigitrecError(
            f"{path} is a LiteRT model; this needs the Keras model (.keras, .h5, a SavedModel folder, "
            "or the run folder it came from)"
        )
    else:
        raise DigitrecError(
            f"{path}: unknown model format {suffix or '(no suffix)'}; use .keras, .h5 or a SavedModel folder"
        )

    keras = _keras()
    try:
        if suffix == ".keras":
            return keras.models.load_model(path, compile=False, safe_mode=True)
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one sentence
        saved_by = _keras_version_in(path)
        if saved_by and saved_by.split(".")[0] != keras.__version__.split(".")[0]:
            raise DigitrecError(
                f"{path} was saved by Keras {saved_by} and cannot be loaded by Keras {keras.__version__} "
                f"({first_line(exc)}); retrain it, or load it with Keras {saved_by}"
            ) from None
        raise DigitrecError(f"{path} could not be loaded as a Keras model ({first_line(exc)})") from None


def _load_saved_model(path: Path):
    """Wrap a SavedModel's `serving_default` signature as a Keras model (inference only)."""
    keras = _keras()
    from digitrec._tf import tensorflow

    tf = tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except Exception as exc:  # noqa: BLE001
        raise DigitrecError(f"{path} is not a usable SavedModel ({first_line(exc)})") from None
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise DigitrecError(f"{path}: expected a SavedModel with one input, found {len(specs)}")
    inputs = keras.Input(shape=tuple(specs[0].shape[1:]), dtype=specs[0].dtype.name)
    outputs = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise DigitrecError(f"{path}: expected a SavedModel with one output, found {len(outputs)}")
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=path.name)


def _keras():
    from digitrec._tf import keras

    return keras()
