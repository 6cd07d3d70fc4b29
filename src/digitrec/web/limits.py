"""The service's limits and defaults, without FastAPI: the command line shows them in --help."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Python answers one request at a time per process: one worker per core uses the machine.
DEFAULT_WORKERS = os.cpu_count() or 1


@dataclass
class Limits:
    """What one request may carry."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 16_000_000
    max_batch: int = 64
