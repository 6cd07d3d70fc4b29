"""reading.alloc: the processes that read image after image keep the memory they free, so an image
costs no page faults."""

from __future__ import annotations

import pytest


def test_the_service_keeps_freed_memory_on_glibc():
    import platform

    from digitrec.reading.alloc import keep_freed_memory

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


_CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from digitrec.reading.alloc import keep_freed_memory
    assert keep_freed_memory()
def upload():  # an upload's working arrays: a dozen of about a megabyte, alive together, then freed
    arrays = [np.ones(1_000_000 // 8) for _ in range(12)]
    del arrays
for _ in range(5):  # warm up: the heap grows to its working size
    upload()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    upload()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_freed_memory_is_reused_without_page_faults():
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc only")

    def faults(mode: str) -> int:
        proc = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True)
        return int(proc.stdout)

    default, kept = faults("default"), faults("keep")
    assert kept * 10 < default, (kept, default)  # by default, thousands of faults per upload


def test_every_service_process_sets_it_up(monkeypatch, good_run):
    from digitrec.reading import alloc
    from digitrec.web import jobs

    calls = []
    monkeypatch.setattr(alloc, "keep_freed_memory", lambda: calls.append(1) or True)
    predictor = jobs.load_predictor(str(good_run.run_dir), None, 10_000_000)  # what create_app and each worker call
    assert calls == [1] and predictor.name == good_run.run_dir.name


def test_predict_and_each_of_its_helpers_keep_freed_memory(monkeypatch, good_run, tmp_path):
    from digitrec.cli.main import main
    from digitrec.reading import alloc, parallel
    from tests.support.helpers import draw_digit

    calls = []
    monkeypatch.setattr(alloc, "keep_freed_memory", lambda: calls.append(1) or True)
    draw_digit("4").save(tmp_path / "four.png")
    assert main(["predict", "--model", str(good_run.run_dir), str(tmp_path / "four.png")]) == 0
    assert calls == [1]
    monkeypatch.setenv("DIGITREC_LITERT_THREADS", "1")
    monkeypatch.setattr(parallel, "_predictor", None)
    parallel._load(str(good_run.run_dir), 0.5, None, None)  # what each helper process runs first
    assert calls == [1, 1] and parallel._predictor is not None
