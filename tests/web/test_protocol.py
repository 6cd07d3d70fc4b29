"""web.protocol: every connection gets TCP_NODELAY, and each response goes out in one write."""

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


def test_a_responses_head_and_body_go_out_in_one_write():
    """A worker killed between the head and the body would leave the load balancer a head it
    cannot retry: the head waits for the body; alone, it leaves on the loop's next turn."""
    import asyncio

    from digitrec.web.protocol import OneWrite

    class Transport:
        def __init__(self):
            self.writes, self.closed = [], False

        def write(self, data):
            self.writes.append(data)

        def is_closing(self):
            return self.closed

        def close(self):
            self.closed = True

        def get_extra_info(self, name, default=None):
            return {"peername": ("127.0.0.1", 5)}.get(name, default)

    async def scenario():
        raw = Transport()
        out = OneWrite(raw, asyncio.get_running_loop())
        head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        out.write(head)
        assert raw.writes == []
        out.write(b"{}")
        assert raw.writes == [head + b"{}"]
        await asyncio.sleep(0)  # the turn's flush finds nothing left to send
        assert raw.writes == [head + b"{}"]
        out.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # a head with no body in this turn
        await asyncio.sleep(0)
        assert raw.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
        out.write(head)
        out.close()  # a close sends what is held first
        assert raw.writes[-1] == head and raw.closed
        out.write(b"a body part")  # not a head: straight through
        assert raw.writes[-1] == b"a body part"
        assert out.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the transport's
        raw.closed = False
        out.write(head)
        raw.closed = True
        await asyncio.sleep(0)  # the connection went: nothing is written to it
        assert raw.writes[-1] == b"a body part"

    asyncio.run(scenario())
