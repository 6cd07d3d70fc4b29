"""uvicorn's HTTP/1.1 protocol with TCP_NODELAY set on every connection, on the faster parser installed.

asyncio only disables Nagle's algorithm on sockets whose protocol number is TCP's. A listening
socket that uvicorn binds itself (its own multi-process mode, which `digitrec serve --workers`
used before it had a worker pool) or that is handed to it (`--fd`, a socket from systemd) has
protocol number 0, so its connections kept Nagle on: a response written in two parts (headers,
then body) waited for the client's delayed ACK, about 40 ms, on every request after the first
one of a keep-alive connection (measured: 44 ms per GET /health with 2 such processes, 0.5 ms
with 1). Setting TCP_NODELAY when each connection is made removes that wait, however the
socket was bound.

The parser: httptools (C, llhttp) when it is installed (the `[web]` extra installs it), else h11
(pure Python). Next to the preprocessing of an upload the difference is small (README, Load).
"""

from __future__ import annotations

import socket

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


class NoDelayProtocol(_Base):
    def connection_made(self, transport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)
