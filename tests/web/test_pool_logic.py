"""The worker pool's decisions (`digitrec.web.pool`), with in-process stand-ins for its worker
processes: the same socket framing, served by a thread, which can die, hang or answer slowly on
cue. Fast enough to run under mutation (`make bench-mutation`); tests/web/test_pool.py runs the
same pool with real processes."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import pickle
import socket
import subprocess
import threading
import types
from pathlib import Path

import pytest

from digitrec.errors import DigitrecError
from digitrec.web import pool as pool_module
from digitrec.web import worker as worker_module
from digitrec.web.logs import ServerLog
from digitrec.web.pool import GONE, WorkerPool, _Worker, worker_spec
from digitrec.web.worker import ANSWER, JOB, recv_exactly, send_all
from tests.support.helpers import until

PIDS = itertools.count(10_000)
# The numbers the guide states, as the module has them (the tests below shorten some).
NUMBERS = (pool_module.JOB_TIMEOUT, pool_module.BACKOFF, pool_module.GONE_CHECK_AFTER, pool_module.CRASH_LOOP_LIFE,
           pool_module.START_TIMEOUT)  # fmt: skip


class FakeProcess:
    """Stands in for a worker's Popen: a thread answers jobs on the pool's socket. Jobs: "die"
    (the process ends mid-job), "hang" (until killed), "hang_once" (the first time a job of its
    args comes), "slow" (args[0] seconds), anything else is answered 200 with its kind, args and
    this process's pid."""

    hung: set = set()  # the args of the "hang_once" jobs that have hung

    def __init__(self, sock: socket.socket, linger: float = 0.0):
        self.pid = next(PIDS)
        self.linger = linger  # seconds it takes to exit once the pool has closed its socket
        self.returncode: int | None = None
        self.kills = 0
        self._sock = sock
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.kills += 1
        self._end(-9)

    def terminate(self) -> None:
        self._end(-15)

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired("fake worker", timeout or 0)
        return self.returncode

    def _end(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self) -> None:
        try:
            while not self._ended.is_set():
                header = recv_exactly(self._sock, JOB.size)
                if not header:  # the pool closed its end: exit, as a worker does
                    self._ended.wait(self.linger)
                    break
                (length,) = JOB.unpack(header)
                kind, args = pickle.loads(recv_exactly(self._sock, length) or b"")
                if kind == "die":
                    self._end(3)
                    return
                if kind == "hang" or (kind == "hang_once" and args not in self.hung):
                    self.hung.add(args)
                    self._ended.wait()
                    return
                if kind == "slow" and self._ended.wait(args[0]):  # killed meanwhile
                    return
                body = json.dumps({"kind": kind, "args": list(args), "pid": self.pid}).encode()
                send_all(self._sock, ANSWER.pack(200, len(body)), body)
        except (OSError, EOFError):  # the pool went away mid-job
            pass
        finally:
            if self.returncode is None:
                self.returncode = 0
            self._sock.close()


class FakePool(WorkerPool):
    """A WorkerPool whose workers are FakeProcess threads; `fail_starts` starts fail first."""

    def __init__(self, size: int, fail_starts: int = 0, linger: float = 0.0, **kwargs):
        self.fail_starts = fail_starts
        self.linger = linger
        self.started = 0
        self.lines: list[str] = []
        super().__init__(size, dict, dict, dict, log=self.lines.append, **kwargs)  # the functions go unused

    def _start(self) -> _Worker:
        if self.fail_starts:
            self.fail_starts -= 1
            raise DigitrecError("runs/gone: no model here")
        self.started += 1
        front, back = socket.socketpair()
        return _Worker(FakeProcess(back, self.linger), front)


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch):
    monkeypatch.setattr(pool_module, "BACKOFF", (0.02, 0.08))
    monkeypatch.setattr(pool_module, "GONE_CHECK_AFTER", 0.05)


async def soon(condition, seconds: float = 30.0) -> None:
    """`until`, polling every 5 ms: these stand-ins answer in microseconds."""
    await until(condition, seconds, step=0.005)


def _run(pool: FakePool, main):
    try:
        return asyncio.run(main())
    finally:
        pool.close()


def test_a_pool_needs_a_worker_and_answers_each_job_from_one():
    with pytest.raises(DigitrecError, match="at least one"):
        FakePool(0)
    pool = FakePool(2)
    assert (pool.size, pool.usable, pool.busy, pool.waiting) == (2, 2, 0, 0) and pool.ready() and pool.alive()

    async def main():
        return await asyncio.gather(*(pool.run("one", (i,)) for i in range(6)))

    answers = _run(pool, main)
    assert [status for status, _ in answers] == [200] * 6
    assert [json.loads(body)["args"] for _, body in answers] == [[i] for i in range(6)]
    assert (pool.deaths, pool.retries, pool.restarts, pool.timeouts) == (0, 0, 0, 0)
    assert not pool.alive() and not pool.ready()  # closed: every worker has ended


def test_jobs_wait_their_turn_and_the_counts_say_how_many():
    pool = FakePool(1)
    finished: list[int] = []

    async def one(i: int):
        answer = await pool.run("one", (i,))
        finished.append(i)
        return answer

    async def main():
        slow = asyncio.ensure_future(pool.run("slow", (0.2,)))
        await soon(lambda: pool.busy == 1)
        queued = []
        for i in range(3):
            queued.append(asyncio.ensure_future(one(i)))
            await asyncio.sleep(0)  # each in line before the next arrives
        await soon(lambda: pool.waiting == 3)
        assert (pool.busy, pool.usable, pool.size) == (1, 1, 1)
        done = await asyncio.gather(slow, *queued)
        assert (pool.busy, pool.waiting) == (0, 0)
        return done

    answers = _run(pool, main)
    assert finished == [0, 1, 2]  # first come, first served
    assert [json.loads(body)["args"] for _, body in answers[1:]] == [[0], [1], [2]]


def test_a_job_that_kills_every_worker_it_meets_is_a_503_after_one_retry():
    pool = FakePool(2)
    first = {w.process.pid for w in pool._all}

    async def main():
        # "die" ends the first worker, then the second: the job fails for good.
        status, body = await pool.run("die", ())
        await soon(lambda: pool.restarts == 2 and pool.usable == 2)
        ok = await pool.run("one", (1,))
        return status, body, ok

    status, body, ok = _run(pool, main)
    assert status == 503 and "stopped, twice" in json.loads(body)["detail"]
    assert (pool.deaths, pool.retries, pool.restarts) == (2, 1, 2)
    assert ok[0] == 200 and not first & {json.loads(ok[1])["pid"]}


def test_a_death_then_an_answer_is_one_retry_and_a_200():
    pool = FakePool(1)
    calls = []

    async def main():
        worker = pool._all[0]
        original = worker.call

        async def dies_first(job):
            calls.append(job)
            if len(calls) == 1:
                worker.process.kill()
            return await original(job)

        worker.call = dies_first
        answer = await pool.run("one", ("x",))
        await soon(lambda: pool.restarts == 1)
        return answer

    status, body = _run(pool, main)
    assert status == 200 and json.loads(body)["args"] == ["x"]
    assert (pool.deaths, pool.retries, pool.restarts, pool.timeouts) == (1, 1, 1, 0)
    assert pickle.loads(calls[0]) == ("one", ("x",))  # pickled once, sent as it was


def test_a_job_whose_worker_died_runs_again_before_the_requests_that_came_after_it():
    pool = FakePool(1)
    finished: list[str] = []

    async def job(name: str, kind: str = "slow", args: tuple = (0.02,)):
        answer = await pool.run(kind, (name, *args) if kind == "one" else args)
        finished.append(name)
        return answer

    async def main():
        first = asyncio.ensure_future(job("first", "slow", (0.2,)))
        await soon(lambda: pool.busy == 1)
        later = [asyncio.ensure_future(job(f"later{i}", "one")) for i in range(2)]
        await soon(lambda: pool.waiting == 2)
        pool._all[0].process.kill()  # the first job's worker dies: its retry goes to the head of the line
        return await asyncio.gather(first, *later)

    answers = _run(pool, main)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert finished == ["first", "later0", "later1"], finished


def test_a_job_past_the_timeout_kills_its_worker_and_twice_is_a_504():
    pool = FakePool(2, job_timeout=0.1)

    async def main():
        hung = await pool.run("hang", ())
        await soon(lambda: pool.restarts == 2)
        return hung, await pool.run("one", (2,))

    (status, body), ok = _run(pool, main)
    assert status == 504 and "longer than 0.1 s, twice" in json.loads(body)["detail"]
    assert (pool.timeouts, pool.deaths, pool.retries) == (2, 0, 1)
    assert ok[0] == 200
    assert sum("ran past 0.1 s" in line for line in pool.lines) == 2


def test_a_slow_job_within_the_timeout_is_left_alone():
    pool = FakePool(1, job_timeout=0.4)

    async def main():
        return await pool.run("slow", (0.15,))

    status, _ = _run(pool, main)
    assert status == 200 and (pool.timeouts, pool.restarts) == (0, 0)


def test_without_a_timeout_there_is_no_watchdog():
    pool = FakePool(1, job_timeout=None)

    async def main():
        answer = await pool.run("one", ())
        return answer, pool._watchdog

    (status, _), watchdog = _run(pool, main)
    assert status == 200 and watchdog is None


def test_a_request_whose_client_left_while_in_line_costs_no_worker():
    pool = FakePool(1)
    asked = []

    async def gone():
        asked.append(True)
        return True

    async def main():
        slow = asyncio.ensure_future(pool.run("slow", (0.15,)))
        await soon(lambda: pool.busy == 1)
        left = await pool.run("one", ("left",), gone=gone)
        quick = await pool.run("one", ("quick",), gone=gone)  # a free worker: nobody is asked
        return await slow, left, quick

    slow, left, quick = _run(pool, main)
    assert left == (GONE, b"") and slow[0] == 200 and quick[0] == 200 and len(asked) == 1
    assert pool.started == 1  # the worker was handed on, not replaced


def test_a_client_that_stays_in_line_is_answered():
    pool = FakePool(1)

    async def still_there():
        return False

    async def main():
        slow = asyncio.ensure_future(pool.run("slow", (0.15,)))
        await soon(lambda: pool.busy == 1)
        return await asyncio.gather(slow, pool.run("one", ("stayed",), gone=still_there))

    (_, (status, body)) = _run(pool, main)
    assert status == 200 and json.loads(body)["args"] == ["stayed"]


def test_a_request_cancelled_mid_job_has_its_worker_replaced():
    pool = FakePool(1)

    async def main():
        task = asyncio.ensure_future(pool.run("slow", (5.0,)))
        await soon(lambda: pool.busy == 1)
        killed = pool._all[0].process
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await soon(lambda: pool.restarts == 1)
        return killed, await pool.run("one", ())

    killed, (status, _) = _run(pool, main)
    assert killed.kills == 1 and killed.returncode == -9 and status == 200 and pool.deaths == 0


def test_workers_that_cannot_start_again_back_off_and_requests_get_503_meanwhile():
    pool = FakePool(1)

    async def main():
        pool.fail_starts = 3
        died = await pool.run("die", ())  # kills the only worker, then its replacement cannot start
        await soon(lambda: pool._failed_starts >= 1)
        asking = asyncio.ensure_future(pool.run("one", ()))
        await asyncio.sleep(0)
        assert asking.done() and pool.waiting == 0  # turned away at once, not put in line
        refused = asking.result()
        assert not pool.ready() and pool.usable == 0
        await soon(lambda: pool.restarts == 1, seconds=5)
        return died, refused, await pool.run("one", ())

    died, refused, ok = _run(pool, main)
    assert died[0] == 503 and refused[0] == 503 and "no worker is ready" in json.loads(refused[1])["detail"]
    assert ok[0] == 200 and pool._failed_starts == 0
    pauses = [line.rsplit("trying again in ", 1)[1] for line in pool.lines if "trying again in" in line]
    assert pauses[:3] == ["0.02 s", "0.04 s", "0.08 s"], pool.lines


def test_requests_in_line_are_turned_away_when_no_worker_can_start():
    pool = FakePool(1)

    async def main():
        pool.fail_starts = 50
        slow = asyncio.ensure_future(pool.run("slow", (0.1,)))
        await soon(lambda: pool.busy == 1)
        waiting = asyncio.ensure_future(pool.run("one", ()))
        await soon(lambda: pool.waiting == 1)
        pool._all[0].process.kill()  # the worker dies mid-job: the job's retry and the line wait
        return await asyncio.gather(slow, waiting)

    answers = _run(pool, main)
    assert [status for status, _ in answers] == [503, 503]


def test_a_failed_start_turns_no_one_away_while_another_worker_can_answer():
    pool = FakePool(2)

    async def main():
        pool.fail_starts = 50
        busy = asyncio.ensure_future(pool.run("slow", (0.2,)))
        await soon(lambda: pool.busy == 1)
        pool._idle[0].process.kill()  # the idle worker dies, and cannot be replaced
        # This job meets the dead worker, then waits for the busy one while the restarts fail.
        waiting = asyncio.ensure_future(pool.run("one", ("waited",)))
        await soon(lambda: pool._failed_starts >= 2)
        return await asyncio.gather(busy, waiting)

    busy, waiting = _run(pool, main)
    assert busy[0] == 200 and pool.deaths == 1
    assert waiting[0] == 200 and json.loads(waiting[1])["args"] == ["waited"]


def test_a_worker_that_dies_young_is_replaced_after_a_growing_pause(monkeypatch):
    monkeypatch.setattr(pool_module, "CRASH_LOOP_LIFE", 5.0)  # every death counts as young
    pool = FakePool(1)

    async def main():
        for n in range(1, 4):
            pool._all[0].process.kill()
            await pool.run("one", ())  # meets the dead worker: its job runs on the replacement
            await soon(lambda n=n: pool.restarts >= n)
        return pool._crash_pause

    pause = _run(pool, main)
    young = [line for line in pool.lines if "after it started" in line]
    assert [line.rsplit("in ", 1)[1] for line in young] == ["0.02 s", "0.04 s", "0.08 s"]
    assert all(line.startswith("digitrec serve: a worker stopped 0.") for line in young), young  # its age
    assert pause == 0.08


def test_a_worker_that_lived_long_resets_the_pause(monkeypatch):
    monkeypatch.setattr(pool_module, "CRASH_LOOP_LIFE", 0.0)
    pool = FakePool(1)
    pool._crash_pause = 0.08

    async def main():
        pool._all[0].process.kill()
        await pool.run("one", ())
        await soon(lambda: pool.restarts == 1)

    _run(pool, main)
    assert pool._crash_pause == 0.0 and not [line for line in pool.lines if "after it started" in line]


def test_close_ends_every_worker_and_a_closed_pool_takes_no_job():
    pool = FakePool(2, linger=0.2)  # each takes a moment to exit: close() waits for it
    processes = [w.process for w in pool._all]
    pool.close()
    # Each read the end of its socket and exited on its own: nothing had to be terminated.
    assert [p.returncode for p in processes] == [0, 0] and pool.size == 0 and not pool.ready()

    async def main():
        return await pool.run("one", ())

    assert asyncio.run(main())[0] == 503


def test_a_replacement_that_starts_while_the_pool_closes_is_stopped():
    class ClosingPool(FakePool):
        def _start(self) -> _Worker:
            fresh = super()._start()
            if self.started > 1:  # the pool closes while its replacement starts
                self._closed = True
                self.fresh = fresh
            return fresh

    pool = ClosingPool(1)

    async def main():
        worker = pool._all[0]
        worker.process.kill()
        pool._replacing.add(worker)
        await pool._replace(worker, kill=False)
        return worker

    worker = _run(pool, main)
    assert pool.started == 2 and pool.fresh.process.returncode == 0  # started, then told to exit
    assert pool.restarts == 0 and worker.process.returncode == -9


def test_a_freed_worker_goes_to_the_longest_waiting_request_even_past_a_cancelled_one():
    pool = FakePool(1)

    async def main():
        first = await pool._acquire()
        b = asyncio.ensure_future(pool._acquire())
        c = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)
        pool._release(first)
        d = asyncio.ensure_future(pool._acquire())  # arrives before b has run: must not take b's worker
        await asyncio.sleep(0)
        assert b.done() and b.result() is first and not c.done() and not d.done()
        pool._release(b.result())  # hands the worker to c...
        c.cancel()  # ...whose request goes away before it has run: the worker passes on to d
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert c.cancelled() and d.done() and d.result() is first
        e = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)
        e.cancel()  # gone while still in line: it leaves the line, and takes nothing
        await asyncio.sleep(0)
        assert not pool._waiting and pool.waiting == 0
        pool._release(d.result())
        assert list(pool._idle) == [first]

    _run(pool, main)


# ---------------------------------------------------------------- the real start, the worker's loop in a thread


def load_pid():
    return {"pid": os.getpid()}


def load_broken():
    raise DigitrecError("runs/missing: no model here")


def echo(holder, kind, args):
    return 200, json.dumps({"kind": kind, "args": list(args)}).encode()


def describe(holder):
    return {"name": "echo", "pid": holder["pid"]}


class ThreadedWorker:
    """Stands in for `subprocess.Popen([python, -m, digitrec.web.worker, FD])`: the worker's own
    `main` on a copy of that socket, in a thread. With `silent`, it closes the socket unanswered."""

    silent = False

    def __init__(self, argv, pass_fds=(), stdin=None):
        assert argv[1:3] == ["-m", "digitrec.web.worker"] and int(argv[3]) in pass_fds
        self.pid = next(PIDS)
        self.returncode: int | None = None
        self._sock = socket.socket(fileno=os.dup(int(argv[3])))
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            if not self.silent:
                worker_module.main(self._sock)
        finally:
            self._sock.close()
            self.returncode = 3 if self.silent else 0

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired("threaded worker", timeout or 0)
        return self.returncode

    def kill(self) -> None:
        self.terminate()

    def terminate(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@pytest.fixture
def threaded(monkeypatch):
    monkeypatch.setattr(pool_module.subprocess, "Popen", ThreadedWorker)
    monkeypatch.setattr(worker_module.signal, "signal", lambda *a: None)  # only the main thread may
    monkeypatch.setattr(ThreadedWorker, "silent", False)
    return ThreadedWorker


def _message(data: bytes) -> bytes:
    return JOB.pack(len(data)) + data


def test_a_worker_reads_messages_however_they_arrive_and_stops_quietly_at_a_cut_one(monkeypatch):
    """The worker's own loop on a socket pair: a message split over several writes is one job,
    two messages in one write are two, each answer is one whole message, and a job cut off by
    the front's close ends the worker without a traceback."""
    monkeypatch.setattr(worker_module.signal, "signal", lambda *a: None)  # only the main thread may
    front, back = socket.socketpair()
    front.settimeout(5)
    done = threading.Event()

    def run() -> None:
        worker_module.main(back)
        done.set()
        back.close()  # as the worker process's exit does

    threading.Thread(target=run, daemon=True).start()
    spec = _message(worker_spec(load_pid, echo, describe, ServerLog()))
    front.sendall(spec[:3])  # the spec's length, in pieces
    front.sendall(spec[3:])
    code, length = ANSWER.unpack(recv_exactly(front, ANSWER.size) or b"")
    assert (code, json.loads(recv_exactly(front, length) or b"")) == (0, {"name": "echo", "pid": os.getpid()})
    first, second = (_message(pickle.dumps(("one", (i,)))) for i in (1, 2))
    front.sendall(first[:5])
    front.sendall(first[5:] + second)
    for i in (1, 2):
        code, length = ANSWER.unpack(recv_exactly(front, ANSWER.size) or b"")
        assert (code, json.loads(recv_exactly(front, length) or b"")) == (200, {"kind": "one", "args": [i]})
    front.sendall(_message(b"x" * 100)[:50])  # a job cut off half way
    front.shutdown(socket.SHUT_WR)
    assert front.recv(1) == b"" and done.is_set()  # it answered nothing and ended
    front.close()


def test_a_worker_whose_front_goes_before_the_spec_ends_at_once_and_answers_nothing():
    for sent in (b"", JOB.pack(10)[:4], JOB.pack(10) + b"abc"):
        front, back = socket.socketpair()
        front.settimeout(5)
        front.sendall(sent)
        front.shutdown(socket.SHUT_WR)
        worker_module.main(back)  # returns: no spec, nothing to load
        back.close()
        assert front.recv(64) == b"", sent
        front.close()


def test_a_started_worker_says_it_is_ready_and_answers(threaded):
    pool = WorkerPool(2, load_pid, echo, describe)

    async def main():
        return await asyncio.gather(*(pool.run("one", (i,)) for i in range(4)))

    answers = _run(pool, main)
    assert pool.info == {"name": "echo", "pid": os.getpid()}  # what describe() said, from the worker
    assert [json.loads(body) for _, body in answers] == [{"kind": "one", "args": [i]} for i in range(4)]


def buggy(holder, kind, args):
    raise ZeroDivisionError("a bug in a job function")


def test_a_workers_bug_is_logged_in_the_pools_log_format(threaded, capsys):
    """The worker logs with the pool's own ServerLog (JSON here); any other `log` (a plain
    function, which may not travel to a process) leaves the workers a text one."""
    for log, json_lines in ((ServerLog("json"), True), (lambda line: None, False)):
        pool = WorkerPool(1, load_pid, buggy, describe, log=log)
        status, body = _run(pool, functools.partial(pool.run, "one", ()))
        assert status == 500 and json.loads(body)["detail"] == "the server failed on this request (ZeroDivisionError)"
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        if json_lines:
            assert len(lines) == 1 and json.loads(lines[0])["message"] == "digitrec serve: a worker's one job failed"
        else:
            assert lines[0] == "digitrec serve: a worker's one job failed:"
            assert lines[-1].startswith("ZeroDivisionError")


def test_a_worker_that_cannot_load_the_model_is_one_clear_error(threaded):
    with pytest.raises(DigitrecError) as raised:
        WorkerPool(1, load_broken, echo, describe)
    assert str(raised.value) == "a worker could not load the model: runs/missing: no model here"


def test_a_worker_that_ends_before_it_is_ready_is_named_by_its_exit_code(threaded):
    threaded.silent = True
    with pytest.raises(DigitrecError) as raised:
        WorkerPool(1, load_pid, echo, describe)
    assert str(raised.value) == "a worker could not load the model: exit code 3"


def test_the_guide_states_the_pools_numbers():
    job_timeout, (first, longest), gone_after, young, start = NUMBERS
    guide = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text()
    assert f"| `--job-timeout S` | {job_timeout:g} |" in guide
    assert f"new workers are tried after {first:g} s, then a pause doubling to {longest:g} s" in guide
    assert f"waited in line over {gone_after:g} s" in guide
    assert f"dies within {young:g} s of starting" in guide
    assert f"has {start:g} s to load its model" in guide


# ---------------------------------------------------------------- the mutants the tests above left alive


def test_a_job_that_timed_out_once_runs_again_before_the_requests_that_came_after_it():
    pool = FakePool(1, job_timeout=0.1)
    finished: list[str] = []

    async def job(name: str, kind: str = "one"):
        answer = await pool.run(kind, (name,))
        finished.append(name)
        return answer

    async def main():
        first = asyncio.ensure_future(job("first", "hang_once"))  # hangs, then its retry is answered
        await soon(lambda: pool.busy == 1)
        later = [asyncio.ensure_future(job(f"later{i}")) for i in range(2)]
        await soon(lambda: pool.waiting == 2)
        return await asyncio.gather(first, *later)

    answers = _run(pool, main)
    assert [status for status, _ in answers] == [200, 200, 200] and pool.timeouts == 1
    assert finished == ["first", "later0", "later1"], finished


def test_a_request_waits_for_the_busy_worker_while_the_other_cannot_be_replaced():
    pool = FakePool(2)

    async def main():
        pool.fail_starts = 50
        busy = asyncio.ensure_future(pool.run("slow", (0.3,)))
        await soon(lambda: pool.busy == 1)
        idle = pool._idle.popleft()  # the idle worker dies, unnoticed until its next job
        idle.process.kill()
        pool._replace_soon(idle)
        await soon(lambda: pool._failed_starts >= 1)
        assert pool.ready() and pool.usable == 1  # the busy worker will answer
        waiting = asyncio.ensure_future(pool.run("one", ("waited",)))
        await soon(lambda: pool.waiting == 1)  # in line, not turned away
        return await asyncio.gather(busy, waiting)

    busy, waiting = _run(pool, main)
    assert busy[0] == 200 and waiting[0] == 200 and json.loads(waiting[1])["args"] == ["waited"]


def test_one_worker_is_enough_to_be_ready():
    pool = FakePool(1)
    try:
        assert pool.ready() and pool.usable == 1
    finally:
        pool.close()


class AsyncioWith:
    """asyncio as the pool module sees it, with its own `sleep`: the pauses it asks for are seen,
    and none is waited."""

    def __init__(self, sleep):
        self.sleep = sleep

    def __getattr__(self, name: str):
        return getattr(asyncio, name)


def test_the_watchdog_looks_four_times_a_timeout_and_at_least_every_second(monkeypatch):
    # The guide's promise: a hung job is stopped between 1 and 1.25 timeouts after it was sent.
    for timeout, interval in ((0.4, 0.1), (2.0, 0.5), (8.0, 1.0)):
        pool = FakePool(1, job_timeout=timeout)
        pauses: list[float] = []

        async def sleep(seconds: float, pauses=pauses, pool=pool) -> None:
            pauses.append(seconds)
            if len(pauses) == 3:
                pool._closed = True

        monkeypatch.setattr(pool_module, "asyncio", AsyncioWith(sleep))
        _run(pool, pool._watch)
        monkeypatch.undo()
        assert pauses == [interval] * 3, (timeout, pauses)


def test_the_pause_after_a_failed_start_counts_from_when_the_start_began(monkeypatch):
    clock = itertools.count(100.0, 0.25)  # each reading of the clock: a quarter of a second later
    pauses: list[float] = []
    pool = FakePool(1)

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def main():
        worker = pool._all[0]
        worker.process.kill()
        worker.born = 0.0  # long ago on the clock below: not a crash loop
        pool._replacing.add(worker)
        pool.fail_starts = 2
        monkeypatch.setattr(pool_module, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
        monkeypatch.setattr(pool_module, "asyncio", AsyncioWith(sleep))
        await pool._replace(worker, kill=False)

    monkeypatch.setattr(pool_module, "BACKOFF", (1.0, 8.0))
    _run(pool, main)
    # Two failed starts, each read at 0.25 s after it began: 1 s and 2 s pauses, less that.
    assert pauses == [0.75, 1.75] and pool.restarts == 1


def test_close_cancels_the_pools_work_at_once_and_starts_none_after():
    pool = FakePool(1, job_timeout=5.0)

    async def main():
        pool.fail_starts = 50
        await pool.run("die", ())  # its worker and the retry's worker die; the restarts keep failing
        await soon(lambda: pool._failed_starts >= 1)
        tasks = [*pool._tasks, pool._watchdog]
        pool.close()
        await asyncio.sleep(0)
        cancelled = [t.cancelled() for t in tasks]
        after = await pool.run("one", ())  # a closed pool: 503
        await asyncio.sleep(0)
        return cancelled, after, [t for t in [*pool._tasks, pool._watchdog] if t and not t.done()]

    cancelled, after, running = _run(pool, main)
    assert cancelled and all(cancelled) and after[0] == 503
    assert running == [] and pool.started == 1  # nothing of the pool runs on, nothing was started


def test_a_pool_closed_after_its_event_loop_ended_closes_quietly():
    pool = FakePool(1, job_timeout=5.0)
    loop = asyncio.new_event_loop()
    status, _ = loop.run_until_complete(pool.run("one", ()))
    loop.close()  # as a server's loop can end before its pool is closed: the watchdog was never cancelled
    assert status == 200 and not pool._watchdog.done()
    pool._watchdog._log_destroy_pending = False  # it stays pending with its loop: say nothing of it
    pool.close()
    assert pool.size == 0 and not pool.alive()


class StubbornProcess:
    """A process that ignores its closed socket and SIGTERM; only SIGKILL ends it."""

    def __init__(self, gives_in_to: str):
        self.gives_in_to = gives_in_to
        self.calls: list[tuple[str, float | None]] = []
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        self.calls.append(("wait", timeout))
        if self.returncode is None:
            raise subprocess.TimeoutExpired("stubborn", timeout or 0)
        return self.returncode

    def terminate(self) -> None:
        self.calls.append(("terminate", None))
        if self.gives_in_to == "terminate":
            self.returncode = -15

    def kill(self) -> None:
        self.calls.append(("kill", None))
        self.returncode = -9


def test_a_worker_that_does_not_exit_is_terminated_then_killed():
    for gives_in_to, expected in (
        ("terminate", [("wait", 5.0), ("terminate", None), ("wait", 5.0)]),
        ("kill", [("wait", 5.0), ("terminate", None), ("wait", 5.0), ("kill", None), ("wait", None)]),
    ):
        process = StubbornProcess(gives_in_to)
        pool_module._stop(process)
        assert process.calls == expected and process.returncode in (-15, -9)


def test_a_request_whose_client_left_is_logged_as_499_as_the_guide_says():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text()
    assert GONE == 499 and "(logged as 499)" in guide
