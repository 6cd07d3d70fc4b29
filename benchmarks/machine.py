"""The machine a result was measured on, recorded the same way by every benchmark: these machines
are shared and not the same CPU every time, so a figure names the CPU that gave it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_name", "machine"]


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what Python knows of it where that is missing."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return name or platform.processor() or platform.machine()


def machine(**extra: object) -> dict:
    """The result's `machine` record: the CPU, the cores this process may use, the platform and
    Python, and any `extra` figures of the benchmark's own (such as native bfloat16)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_name(),
        "cpus": cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **extra,
    }
