"""The load generator's keep-alive HTTP/1.1 client (mimamori_dev/loadhttp.py) against a
loopback server that answers as a test scripts it: reuse, the server's closes, partial and
fragmented responses, timeouts. Against the real cloud: tests/cloud/test_loadgen.py."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_dev import loadhttp
from mimamori_dev.loadhttp import Pool

# (connection number, request number on it, request head, request body, writer) -> keep open
Answer = Callable[[int, int, bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]


def response(body: bytes, status: int = 200, extra: bytes = b"") -> bytes:
    head = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra)
    return head + body


async def echo(conn: int, n: int, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(body))
    return True


class Server:
    """asyncio.start_server on a free loopback port; records every request it read."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            for n in range(10**6):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append((conn, head, body))
                if not await self.answer(conn, n, head, body, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@given(
    bodies=st.lists(st.binary(max_size=5000), min_size=1, max_size=8),
    chunked=st.booleans(),
    pieces=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_responses_arrive_whole_however_the_server_splits_them(
    bodies: list[bytes], chunked: bool, pieces: int, seed: int
) -> None:
    """Each request's body comes back exactly (the server echoes it, fixed length or chunked,
    written in random fragments), over one kept-alive connection."""
    rng = random.Random(seed)

    async def fragmented(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        if chunked:
            parts = [body[i : i + 700] for i in range(0, len(body), 700)]
            data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
                b"%x\r\n%s\r\n" % (len(p), p) for p in parts
            )
            data += b"0\r\n\r\n"
        else:
            data = response(body)
        cuts = [*sorted(rng.randrange(len(data)) for _ in range(pieces)), len(data)]
        last = 0
        for cut in cuts:
            writer.write(data[last:cut])
            await writer.drain()
            last = cut
        return True

    async def scenario() -> None:
        async with Server(fragmented) as server:
            pool = Pool(server.url, timeout_s=10)
            for body in bodies:
                assert await pool.post("/echo", body, b"Authorization: Bearer t\r\n") == (200, body)
            await pool.close()
            assert pool.connects == 1 and server.connections == 1
            head = server.requests[0][1]
            assert head.startswith(b"POST /echo HTTP/1.1\r\n")
            assert b"\r\nAuthorization: Bearer t\r\n" in head
            assert b"\r\nHost: 127.0.0.1:" in head

    run(scenario())


def test_requests_in_flight_at_once_each_get_their_own_connection() -> None:
    async def slow_echo(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        writer.write(response(body))
        return True

    async def scenario() -> None:
        async with Server(slow_echo) as server:
            pool = Pool(server.url)
            for _ in range(2):  # the second round reuses the first round's connections
                got = await asyncio.gather(*(pool.post("/", b"%d" % i) for i in range(8)))
                assert got == [(200, b"%d" % i) for i in range(8)]
            await pool.close()
            assert pool.connects == server.connections == 8

    run(scenario())


def test_a_kept_alive_connection_the_server_dropped_is_retried_once_on_a_new_one() -> None:
    """The server closes a kept-alive connection as the next request arrives (its keep-alive
    timeout racing our reuse): nothing was answered, so the request goes again, once."""

    async def drop_second(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        if n == 1:
            return False  # read it, close without a byte
        writer.write(response(body))
        return True

    async def scenario() -> None:
        async with Server(drop_second) as server:
            pool = Pool(server.url)
            assert await pool.post("/", b"one") == (200, b"one")
            assert await pool.post("/", b"two") == (200, b"two")
            await pool.close()
            assert [(c, b) for c, _, b in server.requests] == [
                (1, b"one"),
                (1, b"two"),
                (2, b"two"),
            ]

    run(scenario())


def test_a_response_cut_off_midway_is_an_error_not_a_retry() -> None:
    async def cut(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        writer.write(response(b"x" * 100)[:30])
        return False

    async def scenario() -> None:
        async with Server(cut) as server:
            pool = Pool(server.url)
            with pytest.raises(ConnectionError):
                await pool.post("/", b"a")
            await pool.close()
            assert len(server.requests) == 1  # the server may have acted on it: not resent

    run(scenario())


def test_a_silent_server_times_out_and_its_connection_is_not_reused() -> None:
    async def silent_first(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        if conn == 1:
            await asyncio.sleep(30)
        writer.write(response(body))
        return True

    async def scenario() -> None:
        async with Server(silent_first) as server:
            pool = Pool(server.url, timeout_s=0.3)
            with pytest.raises(TimeoutError):
                await pool.post("/", b"a")
            assert await pool.post("/", b"b") == (200, b"b")
            await pool.close()
            assert pool.connects == 2

    run(scenario())


def test_connection_close_and_long_idle_connections_are_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def closing(conn: int, n: int, head: bytes, body: bytes, writer) -> bool:  # type: ignore[no-untyped-def]
        writer.write(response(body, extra=b"Connection: close\r\n" if conn == 1 else b""))
        return conn != 1

    async def scenario() -> None:
        async with Server(closing) as server:
            pool = Pool(server.url)
            assert await pool.post("/", b"a") == (200, b"a")  # conn 1 says close
            assert await pool.post("/", b"b") == (200, b"b")  # conn 2
            monkeypatch.setattr(loadhttp, "IDLE_S", 0.0)  # conn 2 now counts as too old
            assert await pool.post("/", b"c") == (200, b"c")  # conn 3
            await pool.close()
            assert [c for c, _, _ in server.requests] == [1, 2, 3] and pool.connects == 3

    run(scenario())


def test_refused_connections_and_non_http_urls_fail_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connecting is refused

        async def scenario() -> None:
            with pytest.raises(ConnectionRefusedError):
                await Pool(f"http://127.0.0.1:{port}").post("/", b"")

        run(scenario())
    for url in ("https://127.0.0.1:1", "http://127.0.0.1:1/api", "127.0.0.1:1"):
        with pytest.raises(ValueError, match="plain http"):
            Pool(url)
