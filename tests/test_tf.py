"""_tf: TensorFlow's native start-up chatter is filtered from stderr, anything else passes; a
missing TensorFlow is one clear error."""

from __future__ import annotations

import subprocess
import sys

_WRITE = """
import os, sys
from digitrec._tf import filtered_stderr
with filtered_stderr():
    os.write(2, b"I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\\n")
    os.write(2, b"a real warning\\n")
"""


def test_native_noise_is_filtered_and_the_rest_passes():
    proc = subprocess.run([sys.executable, "-c", _WRITE], capture_output=True, text=True, check=True)
    assert proc.stderr.strip().splitlines() == ["a real warning"]


def test_a_missing_tensorflow_is_one_clear_error():
    code = (
        "import sys\n"
        "class NoTensorFlow:\n"  # as if it were not installed
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ImportError(\"No module named 'tensorflow'\")\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n"
        "from digitrec import DigitrecError\nfrom digitrec._tf import keras\n"
        "try:\n    keras()\nexcept DigitrecError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("TensorFlow is not installed") and "make setup" in proc.stdout


def _keras_error(backend: str, missing: str = "torch") -> subprocess.CompletedProcess:
    code = (
        "import os, sys\n"
        f"sys.modules[{missing!r}] = None\n"  # as if it were not installed
        f"os.environ['KERAS_BACKEND'] = {backend!r}\n"
        "from digitrec import DigitrecError\nfrom digitrec._tf import keras\n"
        "try:\n    keras()\nexcept DigitrecError as exc:\n    print(exc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_a_keras_backend_that_is_missing_or_unknown_is_one_clear_error():
    missing = _keras_error("torch").stdout
    assert missing.startswith("KERAS_BACKEND=torch: Keras's torch backend cannot be imported"), missing
    assert "unset KERAS_BACKEND" in missing and "Keras 3 is not installed" not in missing
    unknown = _keras_error("bogus").stdout
    assert unknown.startswith("KERAS_BACKEND=bogus is not a Keras backend"), unknown
    assert "tensorflow (the default) or jax" in unknown
    no_keras = _keras_error("jax", missing="keras").stdout
    assert no_keras.startswith("Keras 3 is not installed"), no_keras
