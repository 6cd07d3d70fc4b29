"""The web service's worker processes (`digitrec.web.pool`): jobs go to the next free worker,
first come first served; a worker that dies is replaced; a model that cannot load is one error."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from digitrec.errors import DigitrecError
from digitrec.web.pool import WorkerPool


# Module-level, so that the spawned workers can import them.
def load_nothing():
    return {"pid": os.getpid()}


def load_broken():
    raise DigitrecError("runs/missing: no model here")


def load_unless(flag: str):
    if os.path.exists(flag):
        raise DigitrecError(f"{flag}: the model is gone")
    return load_nothing()


def echo_job(holder, kind, args):
    if kind == "die":
        os._exit(3)
    return 200, json.dumps({"kind": kind, "args": list(args), "pid": holder["pid"]}).encode()


def describe(holder):
    return {"name": "echo", "pid": holder["pid"]}


@pytest.fixture
def pool():
    pool = WorkerPool(2, load_nothing, echo_job, describe)
    yield pool
    pool.close()


def test_jobs_run_in_the_workers_and_come_back_as_json(pool):
    async def main():
        return await asyncio.gather(*(pool.run("one", ("x.png", i)) for i in range(8)))

    answers = asyncio.run(main())
    assert [status for status, _ in answers] == [200] * 8
    bodies = [json.loads(body) for _, body in answers]
    assert [b["args"] for b in bodies] == [["x.png", i] for i in range(8)]  # each answer to its own request
    pids = {b["pid"] for b in bodies}
    assert os.getpid() not in pids and pids <= {w.process.pid for w in pool._all}
    assert pool.info["name"] == "echo" and pool.alive() and pool.size == 2


def test_a_freed_worker_goes_to_the_longest_waiting_request():
    pool = WorkerPool(1, load_nothing, echo_job, describe)

    async def main():
        first = await pool._acquire()
        b = asyncio.ensure_future(pool._acquire())
        c = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)
        pool._release(first)
        # A request arriving now, before b has run, must not take the worker b was handed
        # (asyncio.Queue would give it to the newcomer and send b to the back of the line).
        d = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)
        assert b.done() and b.result() is first and not c.done() and not d.done()
        pool._release(b.result())
        await asyncio.sleep(0)
        assert c.done() and not d.done()
        c.cancel()  # c's request went away after being handed the worker: it passes to d
        d2 = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)
        pool._release(c.result())
        await asyncio.sleep(0)
        assert d.done() and not d2.done()
        d2.cancel()
        await asyncio.sleep(0)
        assert not pool._waiting

    try:
        asyncio.run(main())
    finally:
        pool.close()


def test_a_worker_that_dies_is_replaced_and_its_request_gets_a_4xx(pool):
    async def main():
        status, body = await pool.run("die", ())
        assert status == 400 and "worker stopped" in json.loads(body)["detail"]
        for _ in range(300):  # the replacement starts in the background
            if pool.replaced:
                break
            await asyncio.sleep(0.05)
        return await asyncio.gather(*(pool.run("one", (i,)) for i in range(4)))

    answers = asyncio.run(main())
    assert pool.replaced == 1 and [s for s, _ in answers] == [200] * 4
    assert sum(w.process.poll() is None for w in pool._all) == 2


def test_when_no_worker_can_be_restarted_requests_get_503_instead_of_waiting(tmp_path, capfd):
    import functools

    flag = tmp_path / "gone"
    pool = WorkerPool(1, functools.partial(load_unless, str(flag)), echo_job, describe)
    flag.touch()  # from now on the model cannot load

    async def main():
        status, _ = await pool.run("die", ())
        waiting = asyncio.ensure_future(pool.run("one", (1,)))  # in line for the only worker
        for _ in range(300):
            if waiting.done():
                break
            await asyncio.sleep(0.05)
        return status, await waiting, await pool.run("one", (2,))

    try:
        died, waited, later = asyncio.run(main())
    finally:
        pool.close()
    assert died == 400 and waited[0] == 503 and later[0] == 503 and not pool.alive()
    assert "the model is gone; 0 worker(s) left" in capfd.readouterr().err


def test_a_model_that_cannot_load_is_one_clear_error():
    with pytest.raises(DigitrecError, match="could not load the model: runs/missing: no model here"):
        WorkerPool(2, load_broken, echo_job, describe)


def test_a_script_that_starts_a_pool_at_top_level_is_not_run_again_by_its_workers(tmp_path):
    """multiprocessing's "spawn" would import the calling script again in each worker (and
    fail without an `if __name__ == "__main__"` guard); the workers are `python -m` processes."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "serve_it.py"
    script.write_text(
        "from tests.web.test_pool import WorkerPool, describe, echo_job, load_nothing\n"
        "print('started', flush=True)\n"
        "pool = WorkerPool(2, load_nothing, echo_job, describe)\n"
        "print(pool.info['name'], pool.size)\npool.close()\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == ["started", "echo 2", ""]


def test_closing_the_pool_ends_the_workers(pool):
    processes = [w.process for w in pool._all]
    pool.close()
    assert all(p.poll() is not None for p in processes) and not pool.alive()


def test_serve_with_workers_and_a_broken_model_says_so_in_one_line(tmp_path):
    from tests.support.helpers import run_cli
    from tests.support.serverproc import free_port

    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer")
    proc = run_cli("serve", "--workers", "2", "--model", str(bad), "--port", str(free_port()))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"digitrec: error: a worker could not load the model: {bad} is not a usable LiteRT/TFLite model"
    )
