"""Worker processes for the web service: each loads the model once and answers one job at a time;
the service's one HTTP process hands every job to the next free worker, in arrival order.

Python runs one thread at a time per process, and an upload's preprocessing is mostly Python, so
using N cores takes N processes. Letting N uvicorn processes share the listening socket spreads
*connections*, not requests: whichever process wakes first accepts every connection that arrives
together, so 16 keep-alive clients were split 4/12 as often as 8/8, and the busy process's
clients waited twice as long. Here the connections all end in one process, which only parses
HTTP, and the work goes to whichever worker is free: one queue, first come first served.

The worker's side, and the framing on its socket, are `web.worker`.

Faults are the server's, never the client's: a worker that dies mid-job (killed for memory, a
crash in native code) or runs past the job timeout (hung, stopped) is killed and replaced, and
its job runs again on another worker (predictions have no side effects). A job that kills a
second worker is a 503, one that times out a second time a 504: a request that crashes or hangs
whatever runs it costs two workers at most, and one unlucky request that met a dying worker and
then a stopped one is still answered. A worker that cannot start, or dies within a second of
starting, is replaced after a pause that doubles each time: a crash loop does not spin. While
no worker can start, requests get 503 at once instead of waiting.
"""

from __future__ import annotations

import asyncio
import collections
import json
import pickle
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from digitrec.errors import DigitrecError
from digitrec.web.logs import ServerLog
from digitrec.web.worker import ANSWER, JOB, READY, recv_exactly, send_all

START_TIMEOUT = 300.0  # seconds for a worker to load its model (a Keras model imports TensorFlow)
JOB_TIMEOUT = 30.0  # seconds a job may take on a worker before the worker is killed
BACKOFF = (0.5, 30.0)  # the pause after a worker failed to start: doubled each time, up to the second
CRASH_LOOP_LIFE = 1.0  # a worker that dies younger than this (seconds) is a crash loop: pause, as above
GONE = 499  # the status recorded for a request whose client left before a worker was free (nginx's)
GONE_CHECK_AFTER = 0.5  # seconds in line after which a request asks whether its client is still there


class _Worker:
    def __init__(self, process, sock: socket.socket):
        self.process, self.sock = process, sock
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.born = time.monotonic()
        self.started: float | None = None  # when the job it runs was sent (the watchdog reads it)
        self.timed_out = False  # killed by the watchdog: its job ran past the timeout

    async def call(self, job: bytes) -> tuple[int, bytes]:
        if self.writer is None:  # streams belong to the running loop: opened on first use
            self.sock.setblocking(False)
            self.reader, self.writer = await asyncio.open_connection(sock=self.sock, limit=2**20)
        assert self.reader is not None
        self.started = time.monotonic()
        self.writer.write(JOB.pack(len(job)) + job)
        await self.writer.drain()
        code, length = ANSWER.unpack(await self.reader.readexactly(ANSWER.size))
        body = await self.reader.readexactly(length)
        self.started = None
        return code, body

    def close(self) -> None:
        """End the worker's stream now: it reads the end of it and exits (after the job it may be
        running). The shutdown is immediate, where closing a stream's transport waits for the
        event loop's next turn, which a closing service may not give it."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # closed already, or the worker has gone
            pass
        if self.writer is not None:
            try:
                self.writer.close()
                return
            except RuntimeError:  # its event loop has ended: close the socket itself
                pass
        self.sock.close()


def _fault(status: int, detail: str) -> tuple[int, bytes]:
    return status, json.dumps({"detail": detail}).encode()


NO_WORKER = _fault(503, "no worker is ready to answer; try again shortly")


def worker_spec(loader: Callable[[], Any], run_job: Callable, describe: Callable, log: ServerLog) -> bytes:
    """A worker's first message: this process's import path, then its functions, pickled apart
    (the worker sets the path before it unpickles them)."""
    return pickle.dumps((sys.path, pickle.dumps((loader, run_job, describe, log))))


class WorkerPool:
    """`size` worker processes, each with its own copy of the model.

    Args:
      size: how many processes (one per core uses the machine).
      loader: builds the model holder in a worker.
      run_job: (holder, kind, args) -> (HTTP status, JSON body), run in the worker.
      describe: holder -> a JSON-able dict, sent once when the worker is ready.
      job_timeout: seconds a job may run on a worker before the worker is killed (None: no limit).
      log: where one-line reports of restarts go (default: stderr). A `ServerLog` goes to the
        workers too, for a job function that raises (JSON lines in JSON mode).

    The three are pickled, so they are functions a worker can import by name (or partials of
    them). Each worker is a fresh `python -m digitrec.web.worker`, not a fork: nothing of the
    front's threads or state is copied, and the calling script is not run again (as
    multiprocessing's "spawn" would).

    Counters for /metrics: `restarts` (workers started in place of one that stopped), `deaths`,
    `timeouts`, `retries` (jobs run a second time); `busy` and `waiting` are the current load.
    """

    def __init__(
        self,
        size: int,
        loader: Callable[[], Any],
        run_job: Callable,
        describe: Callable,
        job_timeout: float | None = JOB_TIMEOUT,
        log: Callable[[str], None] | None = None,
    ):
        if size < 1:
            raise DigitrecError("a worker pool needs at least one process")
        worker_log = log if isinstance(log, ServerLog) else ServerLog()
        self._spec = worker_spec(loader, run_job, describe, worker_log)
        self.job_timeout = job_timeout
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._all: list[_Worker] = []
        self._replacing: set[_Worker] = set()
        self._tasks: set[asyncio.Task] = set()
        self._failed_starts = 0  # in a row: while above 0 and no worker is usable, requests get 503
        self._watchdog: asyncio.Task | None = None
        self._crash_pause = 0.0  # grows while replaced workers keep dying young
        self._closed = False
        self.restarts = self.deaths = self.timeouts = self.retries = 0
        self.info: dict = {}
        try:
            for _ in range(size):
                self._all.append(self._start())
                self._idle.append(self._all[-1])
        except BaseException:
            self.close()
            raise

    def _start(self) -> _Worker:
        front, back = socket.socketpair()
        with back:
            process = subprocess.Popen(
                [sys.executable, "-m", "digitrec.web.worker", str(back.fileno())],
                pass_fds=[back.fileno()],
                stdin=subprocess.DEVNULL,
            )
        front.settimeout(START_TIMEOUT)
        try:
            send_all(front, JOB.pack(len(self._spec)), self._spec)
            header = recv_exactly(front, ANSWER.size)
            status, length = ANSWER.unpack(header) if header else (1, 0)
            body = recv_exactly(front, length) if header else None
        except OSError:
            status, body = 1, None
        if status != READY or body is None:
            front.close()
            _stop(process)
            detail = body.decode(errors="replace") if body else f"exit code {process.returncode}"
            raise DigitrecError(f"a worker could not load the model: {detail}")
        self.info = json.loads(body)
        front.settimeout(None)
        return _Worker(process, front)

    @property
    def size(self) -> int:
        return len(self._all)

    @property
    def usable(self) -> int:
        """Workers that can take a job now or when they finish theirs (not being replaced)."""
        return len(self._all) - len(self._replacing)

    @property
    def busy(self) -> int:
        return self.usable - len(self._idle)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def alive(self) -> bool:
        return any(w.process.poll() is None for w in self._all)

    def ready(self) -> bool:
        """At least one worker can answer (now, or after the jobs before it)."""
        return self.usable > 0 and not self._closed

    async def run(self, kind: str, args: tuple, gone: Callable[[], Awaitable[bool]] | None = None) -> tuple[int, bytes]:
        """Run one job on the next free worker: (HTTP status, JSON body).

        `gone`, if given, is asked once a worker is free for a request that waited for it over
        GONE_CHECK_AFTER seconds: one whose client has left meanwhile is dropped there (status
        GONE) instead of costing a worker. The job is pickled only then.
        A job whose worker died or hung runs again, at the head of the line, until it has
        killed two workers (503) or outlasted the timeout twice (504).
        """
        if self.job_timeout is not None and not self._closed and (self._watchdog is None or self._watchdog.done()):
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())  # one for the pool
        job = None
        died = hung = 0  # this job's failures so far: a second of either kind ends it
        failure = NO_WORKER  # the answer if no worker takes the job; then the last failure's
        while died < 2 and hung < 2:
            since = time.monotonic()
            worker = await self._acquire(first=died + hung > 0)
            if worker is None:
                return failure
            if gone is not None and time.monotonic() - since > GONE_CHECK_AFTER and await gone():
                self._release(worker)
                return GONE, b""
            if job is None:
                job = pickle.dumps((kind, args), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                answer = await worker.call(job)
            except asyncio.CancelledError:
                # The client went away mid-job: the answer would arrive out of step with the next
                # job, so this worker's stream cannot be reused; start a fresh one.
                self._replace_soon(worker, kill=True)
                raise
            except (OSError, asyncio.IncompleteReadError, struct.error):
                if worker.timed_out:  # the watchdog killed it: the job ran past the timeout
                    hung += 1
                    self.timeouts += 1
                    failure = _fault(
                        504, f"the job took longer than {self.job_timeout:g} s, twice (see the server's log)"
                    )
                else:
                    died += 1
                    self.deaths += 1
                    failure = _fault(503, "the worker answering stopped, twice (it has been restarted)")
                self._replace_soon(worker)
            else:
                self._release(worker)
                return answer
            if died < 2 and hung < 2:
                self.retries += 1
        return failure

    async def _watch(self) -> None:
        """Kill the workers whose job has run past the timeout (checked a few times a timeout:
        a job is stopped between 1 and 1.25 timeouts after it was sent). One task for the pool,
        where a timer per job would cost every request."""
        assert self.job_timeout is not None
        while not self._closed:
            await asyncio.sleep(min(1.0, self.job_timeout / 4))
            now = time.monotonic()
            for worker in self._all:
                started = worker.started
                if started is not None and now - started > self.job_timeout and not worker.timed_out:
                    worker.timed_out = True
                    if worker.process.poll() is None:
                        worker.process.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
                        self._log(f"digitrec serve: a job ran past {self.job_timeout:g} s; its worker "
                                  f"(pid {worker.process.pid}) was killed")  # fmt: skip

    async def _acquire(self, first: bool = False) -> _Worker | None:
        """The next free worker, strictly first come, first served (`first`: at the head of the
        line, for a job's second try). None when no worker can answer and none is starting.
        (asyncio.Queue is not first come, first served: a request that arrives while a freed
        worker's waiter is being woken takes the worker, and the waiter goes back to the end of
        the line; at 16 clients that doubled the p99 wait.)"""
        if self._idle and not self._waiting:
            return self._idle.popleft()
        if self._closed or not self._all or (self.usable == 0 and self._failed_starts):
            return None
        turn = asyncio.get_running_loop().create_future()
        if first:
            self._waiting.appendleft(turn)
        else:
            self._waiting.append(turn)
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.result() is not None:
                self._release(turn.result())  # handed a worker just as the request went away
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def _release(self, worker: _Worker) -> None:
        """Hand a free worker to the longest waiting request, or keep it for the next."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(worker)
                return
        self._idle.append(worker)

    def _turn_away_waiting(self) -> None:
        """Nobody will free a worker soon: the requests in line get their 503 now."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)

    def _replace_soon(self, worker: _Worker, kill: bool = False) -> None:
        self._replacing.add(worker)
        task = asyncio.get_running_loop().create_task(self._replace(worker, kill))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, worker: _Worker, kill: bool) -> None:
        """Start a new worker in place of one that stopped, hung or whose answer was abandoned;
        after a failed start, try again after a pause that doubles each time."""
        loop = asyncio.get_running_loop()
        worker.close()
        if kill and worker.process.poll() is None:
            worker.process.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
        await loop.run_in_executor(None, _stop, worker.process)
        if time.monotonic() - worker.born < CRASH_LOOP_LIFE:  # it died as soon as it started
            self._crash_pause = min(max(2 * self._crash_pause, BACKOFF[0]), BACKOFF[1])
            self._log(f"digitrec serve: a worker stopped {time.monotonic() - worker.born:.1f} s after it started; "
                      f"starting another in {self._crash_pause:g} s")  # fmt: skip
            await asyncio.sleep(self._crash_pause)
        else:
            self._crash_pause = 0.0
        pause = BACKOFF[0]
        while not self._closed:
            started = time.monotonic()
            try:
                fresh = await loop.run_in_executor(None, self._start)
                break
            except DigitrecError as exc:  # the model file went away, say: serve on with the others
                self._failed_starts += 1
                self._log(f"digitrec serve: {exc}; {self.usable} of {self.size} worker(s) answering; "
                          f"trying again in {pause:g} s")  # fmt: skip
                if self.usable == 0:
                    self._turn_away_waiting()
                await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))
                pause = min(pause * 2, BACKOFF[1])
        else:
            return
        if self._closed:
            fresh.close()
            _stop(fresh.process)
            return
        self._failed_starts = 0
        self._replacing.discard(worker)
        self._all[self._all.index(worker)] = fresh
        self.restarts += 1
        self._release(fresh)

    def close(self) -> None:
        """Close the workers' sockets (each then exits) and wait for them, briefly."""
        self._closed = True
        for task in [*self._tasks, *([self._watchdog] if self._watchdog else [])]:
            try:
                task.cancel()
            except RuntimeError:  # its event loop has ended, and the task with it
                pass
        for worker in self._all:
            worker.close()
        for worker in self._all:
            _stop(worker.process)
        self._all = []
        self._idle.clear()


def _stop(process: subprocess.Popen, wait: float = 5.0) -> None:
    """Wait for a worker whose socket is closed to exit; terminate it if it does not."""
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
