"""A worker process of the web service: `python -m digitrec.web.worker FD`, started by
`web.pool`. It reads what to run from its socket, loads the model, says so, then answers one job
at a time until the service closes the socket (it then exits, after the job it may be running).

Framing on the socket: a job is an 8-byte length and a pickle of (kind, args) (the service
pickles it; nothing from a client is ever unpickled as such); an answer is a 4-byte status, an
8-byte length and the JSON body.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import struct
import sys

JOB = struct.Struct("!Q")
ANSWER = struct.Struct("!IQ")
READY = 0  # the status of a worker's first message: the model is loaded (the body is /model's object)


def server_fault(exc: BaseException) -> dict[str, str]:
    """The body of a 500: the kind of failure, never its text (which may hold paths or data)."""
    return {"detail": f"the server failed on this request ({type(exc).__name__})"}


def send_all(sock: socket.socket, *parts: bytes) -> None:
    """The parts in one write: the other side wakes once for a whole message."""
    sock.sendall(b"".join(parts))


def recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    """n bytes from a blocking socket; None at end of stream (the other side closed)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def main(sock: socket.socket) -> None:
    """A worker process: read what to run, load the model, say so, then answer jobs until the
    front goes away (end of stream on its socket)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the front decides
    os.environ.setdefault("DIGITREC_LITERT_THREADS", "1")  # one core per worker
    header = recv_exactly(sock, JOB.size)
    spec = recv_exactly(sock, JOB.unpack(header)[0]) if header else None
    if spec is None:
        return
    try:
        path, functions = pickle.loads(spec)  # from the front: its import path, then the functions by name
        sys.path[:] = path
        loader, run_job, describe, log = pickle.loads(functions)
        predictor = loader()
        ready = json.dumps(describe(predictor)).encode()
        status = READY
    except Exception as exc:  # noqa: BLE001 - told to the front, which prints one line and exits
        ready, status = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).encode(), 1
    try:
        send_all(sock, ANSWER.pack(status, len(ready)), ready)
        while status == READY:
            header = recv_exactly(sock, JOB.size)
            payload = recv_exactly(sock, JOB.unpack(header)[0]) if header else None
            if payload is None:
                return
            kind, args = pickle.loads(payload)
            try:
                code, body = run_job(predictor, kind, args)
            except Exception as exc:  # noqa: BLE001 - a bug: logged here, a 500 for the client
                log(f"digitrec serve: a worker's {kind} job failed", exc_info=True)
                code, body = 500, json.dumps(server_fault(exc)).encode()
            send_all(sock, ANSWER.pack(code, len(body)), body)
    except OSError:  # the front closed this worker's socket mid-job: done
        return


if __name__ == "__main__":  # python -m digitrec.web.worker FD
    main(socket.socket(fileno=int(sys.argv[1])))
