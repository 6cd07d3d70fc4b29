"""uvicorn's HTTP/1.1 protocol with TCP_NODELAY set on every connection, on the faster parser
installed, and each response's head sent together with its body.

asyncio only disables Nagle's algorithm on sockets whose protocol number is TCP's. A listening
socket that uvicorn binds itself (its own multi-process mode, which `digitrec serve --workers`
used before it had a worker pool) or that is handed to it (`--fd`, a socket from systemd) has
protocol number 0, so its connections kept Nagle on: a response written in two parts (headers,
then body) waited for the client's delayed ACK, about 40 ms, on every request after the first
one of a keep-alive connection (measured: 44 ms per GET /health with 2 such processes, 0.5 ms
with 1). Setting TCP_NODELAY when each connection is made removes that wait, however the
socket was bound.

uvicorn writes a response's status line and headers, then its body, as two writes: with
TCP_NODELAY, two packets. A worker killed between them leaves a load balancer holding a head
without its body, which it can no longer retry elsewhere (a client then reads an incomplete
response: one in 2,000 in the deploy test's kill, once). `OneWrite` holds the head until the
body's first part and sends both in one write (or on the event loop's next turn, if no body
follows in this one).

The parser: httptools (C, llhttp) when it is installed (the `[web]` extra installs it), else h11
(pure Python). Next to the preprocessing of an upload the difference is small (README, Load).
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

    PARSER = "httptools"
except ImportError:  # httptools is not installed: uvicorn's pure-Python parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

    PARSER = "h11"


def set_nodelay(transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all: nothing to tune
            pass


class OneWrite:
    """A transport that holds a response's head (status line and headers) until the next write,
    and sends both at once; the head goes alone on the event loop's next turn if nothing follows,
    and before a close. Everything else passes to the transport."""

    def __init__(self, transport, loop):
        self._transport, self._loop = transport, loop
        self._held = b""

    def write(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, b""
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class NoDelayProtocol(_Base):
    def connection_made(self, transport) -> None:
        set_nodelay(transport)
        super().connection_made(cast(asyncio.Transport, OneWrite(transport, self.loop)))  # duck-typed
