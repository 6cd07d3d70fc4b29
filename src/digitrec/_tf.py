"""Lazy, quiet import of TensorFlow and Keras, with one clear error when they are missing."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Any

from digitrec.errors import DigitrecError

_BACKENDS_HINT = "digitrec trains and reads on tensorflow (the default) or jax (docs/training.md)"
_INSTALL_HINT = "install it with `make setup` or `pip install -e '.[cpu]'` (or '.[gpu]' for NVIDIA GPUs)"


def _quiet() -> None:
    # TensorFlow's C++ log lines (oneDNN, CPU features, graph-version notes from tf.data) are
    # noise for a CLI user; real failures still surface as Python exceptions. Anyone who wants
    # them sets TF_CPP_MIN_LOG_LEVEL=0 themselves.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# Lines TensorFlow's and LiteRT's native code write to stderr whatever TF_CPP_MIN_LOG_LEVEL says.
_NATIVE_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
    r"rebuild TensorFlow with the appropriate compiler flags|Unable to register cu|"
    r"computation placer already registered|could not find cuda drivers|"
    r"Created TensorFlow Lite XNNPACK delegate"
)


@contextlib.contextmanager
def filtered_stderr():
    """Run native code with its known start-up chatter filtered out of stderr (file descriptor 2);
    anything else it writes there is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not _NATIVE_NOISE.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _import_filtered():
    """Import TensorFlow with its native start-up chatter filtered out of stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with filtered_stderr():
        import tensorflow as tf
    return tf


def tensorflow() -> Any:
    """Return the `tensorflow` module, imported on first use."""
    _quiet()
    try:
        tf = _import_filtered()
    except ImportError as exc:
        raise DigitrecError(f"TensorFlow is not installed ({exc}); {_INSTALL_HINT}") from None
    tf.get_logger().setLevel("ERROR")
    return tf


def backend() -> str:
    """The Keras backend training and Keras models run on: `$KERAS_BACKEND` (jax, on a machine
    without TensorFlow; docs/training.md), else TensorFlow."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def keras() -> Any:
    """Return the `keras` (Keras 3) module, with TensorFlow as its backend unless `backend()`
    names another (then TensorFlow is not imported)."""
    name = backend()
    if name == "tensorflow":
        tensorflow()
    try:
        import keras as k
    except ImportError as exc:
        if name == "tensorflow" or (exc.name or "").split(".")[0] == "keras":
            raise DigitrecError(f"Keras 3 is not installed ({exc}); {_INSTALL_HINT}") from None
        # Keras imports its backend's module as it starts: the backend is what is missing.
        raise DigitrecError(
            f"KERAS_BACKEND={name}: Keras's {name} backend cannot be imported ({exc}); install it "
            f"(for jax: pip install -e '.[jax]'), or unset KERAS_BACKEND to use TensorFlow"
        ) from None
    except ValueError as exc:  # Keras's word for a backend it does not know
        raise DigitrecError(f"KERAS_BACKEND={name} is not a Keras backend ({exc}); {_BACKENDS_HINT}") from None
    return k


@contextlib.contextmanager
def quiet_keras_inputs():
    """Keras warns when a model whose input has a name is called with a bare tensor; it is the same."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        yield
