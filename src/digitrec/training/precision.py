"""Training precision: which number format the machine computes fastest in, and the Keras policy
that uses it.

`auto` trains in Keras's mixed bfloat16 (bfloat16 arithmetic, float32 weights) only where the
hardware runs bfloat16 natively: an x86 CPU with AVX512_BF16 or AMX-BF16, or an NVIDIA GPU of
compute capability 8.0 or newer. Everywhere else bfloat16 would be emulated, slower than float32,
so `auto` picks float32. The detection reads the CPU's feature flags, never its model name.

Whatever a model trained in, it is saved in float32 (`float32_copy`): the same file loads and
answers the same on any machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitrec.errors import DigitrecError

PRECISIONS = ("auto", "float32", "bfloat16")
# CPU feature flags (Linux /proc/cpuinfo names) with native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    """The precision a run trains in, and why it was chosen."""

    setting: str  # what was asked for: auto, float32 or bfloat16
    used: str  # float32 or bfloat16
    reason: str

    @property
    def policy(self) -> str:
        """The Keras dtype policy for building the model."""
        return "mixed_bfloat16" if self.used == "bfloat16" else "float32"

    def to_dict(self) -> dict[str, str]:
        return {"setting": self.setting, "used": self.used, "reason": self.reason}


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is not there)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native_bfloat16(flags: set[str] | None = None, gpus: list[tuple[int, int]] | None = None) -> str | None:
    """Why this machine runs bfloat16 natively, or None where it does not.

    Args:
      flags: the CPU's feature flags (default: read from /proc/cpuinfo).
      gpus: the compute capabilities of the visible GPUs (default: asked of TensorFlow).
    """
    gpus = gpu_capabilities() if gpus is None else gpus
    modern = [cc for cc in gpus if cc >= (8, 0)]
    if gpus:  # training runs on the GPU, so the GPU decides
        return f"the GPU has compute capability {modern[0][0]}.{modern[0][1]}" if modern else None
    found = [flag for flag in BF16_CPU_FLAGS if flag in (cpu_flags() if flags is None else flags)]
    return f"the CPU has {' and '.join(f.upper() for f in found)}" if found else None


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capabilities of the GPUs the Keras backend sees (none on a CPU-only install)."""
    from digitrec._tf import backend, tensorflow

    if backend() == "jax":
        import jax

        found = [d for d in jax.devices() if d.platform == "gpu"]
        versions = [str(getattr(d, "compute_capability", "0.0")).split(".") for d in found]
        return [(int(v[0]), int(v[1]) if len(v) > 1 else 0) for v in versions]
    if backend() != "tensorflow":  # untried backends train in float32 unless asked
        return []
    tf = tensorflow()
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return capabilities


def resolve_precision(setting: str) -> Precision:
    """The precision `setting` (auto, float32 or bfloat16) means on this machine."""
    if setting not in PRECISIONS:
        raise DigitrecError(f"precision must be one of {', '.join(PRECISIONS)}")
    if setting == "float32":
        return Precision(setting, "float32", "asked for")
    why = native_bfloat16()
    if setting == "bfloat16":
        return Precision(setting, "bfloat16", "asked for" + ("" if why else " (not native here: emulated, slow)"))
    if why:
        return Precision(setting, "bfloat16", f"{why}: bfloat16 is native")
    return Precision(setting, "float32", "no native bfloat16 on this machine")


@contextlib.contextmanager
def keras_policy(precision: Precision) -> Iterator[None]:
    """Build models in `precision`'s Keras policy inside the block; the previous one after it."""
    from digitrec._tf import keras

    mixed = keras().mixed_precision
    before = mixed.global_policy()
    mixed.set_global_policy(precision.policy)
    try:
        yield
    finally:
        mixed.set_global_policy(before)


def float32_copy(model: Any, build: Any) -> Any:
    """A float32 model with `model`'s weights (mixed precision keeps its weights in float32, so
    they are copied exactly). `build()` makes a fresh model of the same architecture."""
    with keras_policy(Precision("float32", "float32", "saving")):
        copy = build()
    copy.set_weights(model.get_weights())
    return copy
