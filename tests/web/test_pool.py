"""The web service's worker processes (`digitrec.web.pool`): jobs go to the next free worker,
first come first served; a worker that dies or hangs is replaced and its job tried once more; a
second failure is the server's 503 or 504; a model that cannot load is one error, and a worker
that cannot start again is retried with a growing pause."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from digitrec.errors import DigitrecError
from digitrec.web.logs import ServerLog
from digitrec.web.pool import WorkerPool
from tests.support.helpers import until


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
    if kind == "hang":
        import time

        time.sleep(3600)
    if kind in ("die once", "hang once"):  # the first worker to take it fails; the second answers
        flag = args[0]
        if not os.path.exists(flag):
            open(flag, "w").close()
            if kind == "die once":
                os._exit(3)
            import time

            time.sleep(3600)
    if kind == "slow":
        import time

        time.sleep(args[0])
    if kind == "bug":
        raise ZeroDivisionError("a bug in a job function")
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


def test_a_job_whose_worker_dies_runs_again_on_another_and_is_answered(pool, tmp_path):
    first_pids = {w.process.pid for w in pool._all}

    async def main():
        answer = await pool.run("die once", (str(tmp_path / "died"),))
        await until(lambda: pool.restarts == 1)  # the replacement starts in the background
        return answer, await asyncio.gather(*(pool.run("one", (i,)) for i in range(4)))

    (status, body), answers = asyncio.run(main())
    assert status == 200 and json.loads(body)["kind"] == "die once"  # the client saw nothing wrong
    assert (pool.deaths, pool.retries, pool.restarts, pool.timeouts) == (1, 1, 1, 0)
    assert [s for s, _ in answers] == [200] * 4 and pool.usable == 2 and pool.busy == 0
    assert sum(w.process.poll() is None for w in pool._all) == 2
    assert len(first_pids & {w.process.pid for w in pool._all}) == 1  # one of the two is new


def test_a_job_that_kills_every_worker_it_meets_is_a_503_after_one_retry(pool):
    async def main():
        answer = await pool.run("die", ())
        await until(lambda: pool.restarts == 2)
        return answer, await pool.run("one", (1,))

    (status, body), (after, _) = asyncio.run(main())
    assert status == 503 and json.loads(body)["detail"].startswith("the worker answering stopped, twice")
    assert (pool.deaths, pool.retries, pool.restarts) == (2, 1, 2) and after == 200


def test_workers_that_die_as_soon_as_they_start_are_replaced_after_a_growing_pause():
    reports: list[str] = []
    pool = WorkerPool(1, load_nothing, echo_job, describe, log=reports.append)

    async def main():
        answer = await pool.run("die", ())  # its worker, then the worker started in its place
        await until(lambda: pool.restarts == 2)
        return answer

    try:
        status, _ = asyncio.run(main())
    finally:
        pool.close()
    assert status == 503
    pauses = [float(r.rsplit("starting another in ", 1)[1].split()[0]) for r in reports]
    assert pauses == [0.5, 1.0] and all("s after it started" in r for r in reports)


def test_a_hung_job_kills_its_worker_at_the_timeout_and_runs_again(tmp_path):
    pool = WorkerPool(2, load_nothing, echo_job, describe, job_timeout=0.5)
    try:

        async def main():
            answer = await pool.run("hang once", (str(tmp_path / "hung"),))
            hung = await pool.run("hang", ())  # hangs on both: a 504
            await until(lambda: pool.restarts == 3)
            return answer, hung

        (status, body), (hung_status, hung_body) = asyncio.run(main())
    finally:
        pool.close()
    assert status == 200 and json.loads(body)["kind"] == "hang once"
    assert hung_status == 504 and "took longer than 0.5 s, twice" in json.loads(hung_body)["detail"]
    assert (pool.timeouts, pool.retries, pool.restarts, pool.deaths) == (3, 2, 3, 0)


def test_a_stopped_worker_is_killed_and_replaced_at_the_timeout():
    """SIGSTOP: the worker neither answers nor dies. Its job goes to the other worker."""
    import signal

    pool = WorkerPool(2, load_nothing, echo_job, describe, job_timeout=0.5)
    stopped = pool._idle[0].process
    try:
        os.kill(stopped.pid, signal.SIGSTOP)

        async def main():
            answers = await asyncio.gather(*(pool.run("one", (i,)) for i in range(6)))
            await until(lambda: pool.restarts == 1)
            return answers

        answers = asyncio.run(main())
    finally:
        pool.close()
    assert [s for s, _ in answers] == [200] * 6 and pool.timeouts == 1 and pool.retries == 1
    assert stopped.poll() == -signal.SIGKILL  # killed, not left stopped


def test_a_bug_in_a_job_is_a_500_and_the_worker_carries_on(capfd):
    pool = WorkerPool(1, load_nothing, echo_job, describe)  # started here: its stderr is captured

    async def main():
        return await pool.run("bug", ()), await pool.run("one", (1,))

    try:
        (status, body), (after, _) = asyncio.run(main())
    finally:
        pool.close()
    assert status == 500 and json.loads(body)["detail"] == "the server failed on this request (ZeroDivisionError)"
    assert after == 200 and pool.restarts == 0
    err = capfd.readouterr().err
    assert "digitrec serve: a worker's bug job failed:" in err
    assert "ZeroDivisionError: a bug in a job function" in err


def test_with_a_json_log_a_bug_in_a_job_is_one_json_line_from_the_worker(capfd):
    pool = WorkerPool(1, load_nothing, echo_job, describe, log=ServerLog("json"))

    async def main():
        return await pool.run("bug", ())

    try:
        status, _ = asyncio.run(main())
    finally:
        pool.close()
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert status == 500 and len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and entry["message"] == "digitrec serve: a worker's bug job failed"
    assert entry["traceback"].endswith("ZeroDivisionError: a bug in a job function")


def test_a_request_whose_client_left_while_in_line_is_dropped_before_it_costs_a_worker():
    pool = WorkerPool(1, load_nothing, echo_job, describe)
    asked = []

    async def gone():
        asked.append(True)
        return True

    async def main():
        slow = asyncio.ensure_future(pool.run("slow", (1.0,)))  # holds the only worker for a second
        await asyncio.sleep(0.05)
        dropped = await pool.run("die", (), gone=gone)  # would kill the worker, had it run
        quick = await pool.run("one", (1,), gone=gone)  # no wait: its client is not asked
        return dropped, quick, await slow

    try:
        dropped, quick, slow = asyncio.run(main())
    finally:
        pool.close()
    assert dropped == (499, b"") and quick[0] == 200 and slow[0] == 200
    assert asked == [True] and pool.deaths == 0 and pool.restarts == 0


def test_when_no_worker_can_start_requests_get_503_at_once_and_starts_back_off(tmp_path):
    import functools

    flag = tmp_path / "gone"
    reports: list[str] = []
    pool = WorkerPool(1, functools.partial(load_unless, str(flag)), echo_job, describe, log=reports.append)
    flag.touch()  # from now on the model cannot load

    async def main():
        status, _ = await pool.run("die", ())
        waited = await pool.run("one", (1,))  # no worker, none can start: not a wait without end
        await until(lambda: sum("trying again in " in r for r in reports) >= 3)
        flag.unlink()  # the model is back: the next try starts a worker
        await until(lambda: pool.restarts == 1, seconds=10)
        return status, waited, await pool.run("one", (2,))

    try:
        died, waited, later = asyncio.run(main())
    finally:
        pool.close()
    assert died == 503 and waited[0] == 503 and later[0] == 200
    failed = [r for r in reports if "trying again in " in r]
    pauses = [float(r.rsplit("trying again in ", 1)[1].split()[0]) for r in failed[:3]]
    assert pauses == [0.5, 1.0, 2.0]  # doubling, not spinning
    assert "the model is gone; 0 of 1 worker(s) answering" in failed[0]


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


def test_a_closed_pool_answers_503_at_once_and_starts_nothing():
    pool = WorkerPool(1, load_nothing, echo_job, describe, job_timeout=5.0)
    pool.close()
    status, body = asyncio.run(pool.run("echo", ()))
    assert status == 503 and b"no worker is ready" in body
    assert pool._watchdog is None  # no task left behind to watch workers that are gone


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
