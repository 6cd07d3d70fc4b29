"""Keep freed memory in the process (glibc's malloc), for processes that preprocess image after image.

glibc returns large freed blocks to the kernel (blocks over its mmap threshold are unmapped on
free; free space over its trim threshold at the top of the heap is released), and both
thresholds move as the program runs. An upload's preprocessing allocates and frees arrays of
hundreds of kilobytes, so a worker of the web service paid for hundreds of page faults on every
request: measured, about 900 faults and 1.1 ms of system time per upload, its CPU per upload 5.3
ms against 4.1 ms with the thresholds fixed (`benchmarks/web_load.py`, 2 workers, 16 clients).
`digitrec predict FOLDER` paid the same: 0.8 s of its 5.7 s for 1,500 phone photos was the
kernel's (`benchmarks/predict_folder.py`). Every process that reads image after image calls
`for_many_images` once: the service's workers, `digitrec predict` and its helper processes,
`digitrec explain`; the app, which reads one drawing at a time, does not.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest: arrays up to this come from the heap, and stay
TRIM_THRESHOLD = 64 * 1024 * 1024  # up to this much free heap is kept for the next request


def keep_freed_memory() -> bool:
    """Fix glibc's thresholds (see the module's docstring). True where they were set; False
    elsewhere (another C library, or no mallopt), where nothing changes."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def for_many_images() -> None:
    """Settle the process for reading image after image: freed memory kept (above) and OpenCV on
    the calling thread only (`ink.single_threaded`)."""
    from digitrec.reading.ink import single_threaded

    keep_freed_memory()
    single_threaded()
