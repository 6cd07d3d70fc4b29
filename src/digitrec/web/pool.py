"""Worker processes for the web service: each loads the model once and answers one job at a time;
the service's one HTTP process hands every job to the next free worker, in arrival order.

Python runs one thread at a time per process, and an upload's preprocessing is mostly Python, so
using N cores takes N processes. Letting N uvicorn processes share the listening socket spreads
*connections*, not requests: whichever process wakes first accepts every connection that arrives
together, so 16 keep-alive clients were split 4/12 as often as 8/8, and the busy process's
clients waited twice as long. Here the connections all end in one process, which only parses
HTTP, and the work goes to whichever worker is free: one queue, first come first served.

Framing on each worker's socket: a job is an 8-byte length and a pickle of (kind, args) (the
front pickles it; nothing from a client is ever unpickled as such); an answer is a 4-byte status,
an 8-byte length and the JSON body. A worker that dies (a crash in native code on some image) is
replaced, and its request gets a 4xx like any other image that could not be processed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from digitrec.errors import DigitrecError

_JOB = struct.Struct("!Q")
_ANSWER = struct.Struct("!IQ")
READY = 0  # the status of a worker's first message: the model is loaded (the body is /model's object)
START_TIMEOUT = 300.0  # seconds for a worker to load its model (a Keras model imports TensorFlow)


def _send_all(sock: socket.socket, *parts: bytes) -> None:
    for part in parts:
        sock.sendall(part)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    """n bytes from a blocking socket; None at end of stream (the other side closed)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _worker_main(sock: socket.socket) -> None:
    """A worker process: read what to run, load the model, say so, then answer jobs until the
    front goes away (end of stream on its socket)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the front decides
    os.environ.setdefault("DIGITREC_LITERT_THREADS", "1")  # one core per worker
    header = _recv_exactly(sock, _JOB.size)
    spec = _recv_exactly(sock, _JOB.unpack(header)[0]) if header else None
    if spec is None:
        return
    try:
        path, functions = pickle.loads(spec)  # from the front: its import path, then the functions by name
        sys.path[:] = path
        loader, run_job, describe = pickle.loads(functions)
        predictor = loader()
        ready = json.dumps(describe(predictor)).encode()
        status = READY
    except Exception as exc:  # noqa: BLE001 - told to the front, which prints one line and exits
        ready, status = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).encode(), 1
    try:
        _send_all(sock, _ANSWER.pack(status, len(ready)), ready)
        while status == READY:
            header = _recv_exactly(sock, _JOB.size)
            payload = _recv_exactly(sock, _JOB.unpack(header)[0]) if header else None
            if payload is None:
                return
            kind, args = pickle.loads(payload)
            code, body = run_job(predictor, kind, args)
            _send_all(sock, _ANSWER.pack(code, len(body)), body)
    except OSError:  # the front closed this worker's socket mid-job: done
        return


class _Worker:
    def __init__(self, process, sock: socket.socket):
        self.process, self.sock = process, sock
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, job: bytes) -> tuple[int, bytes]:
        if self.writer is None:  # streams belong to the running loop: opened on first use
            self.sock.setblocking(False)
            self.reader, self.writer = await asyncio.open_connection(sock=self.sock, limit=2**20)
        assert self.reader is not None
        self.writer.write(_JOB.pack(len(job)) + job)
        await self.writer.drain()
        code, length = _ANSWER.unpack(await self.reader.readexactly(_ANSWER.size))
        return code, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
                return
            except RuntimeError:  # its event loop has ended: close the socket itself
                pass
        self.sock.close()


class WorkerPool:
    """`size` worker processes, each with its own copy of the model.

    Args:
      size: how many processes (one per core uses the machine).
      loader: builds the model holder in a worker.
      run_job: (holder, kind, args) -> (HTTP status, JSON body), run in the worker.
      describe: holder -> a JSON-able dict, sent once when the worker is ready.

    The three are pickled, so they are functions a worker can import by name (or partials of
    them). Each worker is a fresh `python -m digitrec.web.pool`, not a fork: nothing of the
    front's threads or state is copied, and the calling script is not run again (as
    multiprocessing's "spawn" would).
    """

    def __init__(self, size: int, loader: Callable[[], Any], run_job: Callable, describe: Callable):
        if size < 1:
            raise DigitrecError("a worker pool needs at least one process")
        self._spec = pickle.dumps((sys.path, pickle.dumps((loader, run_job, describe))))
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._all: list[_Worker] = []
        self.replaced = 0
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
                [sys.executable, "-m", "digitrec.web.pool", str(back.fileno())],
                pass_fds=[back.fileno()],
                stdin=subprocess.DEVNULL,
            )
        front.settimeout(START_TIMEOUT)
        try:
            _send_all(front, _JOB.pack(len(self._spec)), self._spec)
            header = _recv_exactly(front, _ANSWER.size)
            status, length = _ANSWER.unpack(header) if header else (1, 0)
            body = _recv_exactly(front, length) if header else None
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

    def alive(self) -> bool:
        return any(w.process.poll() is None for w in self._all)

    async def run(self, kind: str, args: tuple) -> tuple[int, bytes]:
        """Run one job on the next free worker: (HTTP status, JSON body)."""
        job = pickle.dumps((kind, args), protocol=pickle.HIGHEST_PROTOCOL)
        worker = await self._acquire() if self._all else None
        if worker is None:
            return 503, json.dumps({"detail": "no worker is left to answer (see the server's log)"}).encode()
        try:
            answer = await worker.call(job)
        except asyncio.CancelledError:
            # The client went away mid-job: the answer would arrive out of step with the next
            # job, so this worker's stream cannot be reused; start a fresh one.
            asyncio.get_running_loop().create_task(self._replace(worker))
            raise
        except (OSError, asyncio.IncompleteReadError, struct.error):
            asyncio.get_running_loop().create_task(self._replace(worker))
            body = json.dumps({"detail": "could not process the image (its worker stopped; it has been restarted)"})
            return 400, body.encode()
        self._release(worker)
        return answer

    async def _acquire(self) -> _Worker | None:
        """The next free worker, strictly first come, first served. (asyncio.Queue is not: a
        request that arrives while a freed worker's waiter is being woken takes the worker, and
        the waiter goes back to the end of the line; at 16 clients that doubled the p99 wait.)"""
        if self._idle and not self._waiting:
            return self._idle.popleft()
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a worker just as the request went away
                self._release(turn.result())
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

    async def _replace(self, worker: _Worker) -> None:
        """Start a new worker in place of one that stopped (or whose answer was abandoned)."""
        loop = asyncio.get_running_loop()
        worker.close()
        await loop.run_in_executor(None, _stop, worker.process)
        try:
            fresh = await loop.run_in_executor(None, self._start)
        except DigitrecError as exc:  # the model file went away, say: serve on with the others
            self._all.remove(worker)
            print(f"digitrec serve: {exc}; {len(self._all)} worker(s) left", file=sys.stderr, flush=True)
            if not self._all:  # nobody will free a worker again: tell the requests in line
                while self._waiting:
                    turn = self._waiting.popleft()
                    if not turn.done():
                        turn.set_result(None)
            return
        self._all[self._all.index(worker)] = fresh
        self.replaced += 1
        self._release(fresh)

    def close(self) -> None:
        """Close the workers' sockets (each then exits) and wait for them, briefly."""
        for worker in self._all:
            worker.close()
        for worker in self._all:
            _stop(worker.process)
        self._all = []


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


if __name__ == "__main__":  # a worker: python -m digitrec.web.pool FD
    _worker_main(socket.socket(fileno=int(sys.argv[1])))
