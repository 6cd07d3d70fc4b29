"""web.protocol: every connection gets TCP_NODELAY."""

from __future__ import annotations


def test_every_connection_gets_tcp_nodelay_even_on_a_socket_bound_as_uvicorn_workers_bind_it():
    """uvicorn's --workers socket has protocol number 0, so asyncio leaves Nagle's algorithm on;
    our protocol turns it off for each connection (else ~40 ms per keep-alive request)."""
    import asyncio
    import socket

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from digitrec.web.protocol import NoDelayProtocol

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # as uvicorn binds it: proto 0
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()

    class Transport(asyncio.Transport):
        def get_extra_info(self, name, default=None):
            return {"socket": conn, "peername": conn.getpeername(), "sockname": conn.getsockname()}.get(name, default)

    loop = asyncio.new_event_loop()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        protocol = NoDelayProtocol(Config(app=lambda *a: None), ServerState(), {}, _loop=loop)
        protocol.connection_made(Transport())
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert protocol.client == client.getsockname()
    finally:
        loop.close()
        for s in (client, conn, listener):
            s.close()
