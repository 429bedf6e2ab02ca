"""A small keep-alive HTTP/1.1 client for the load generator (mimamori_dev/loadgen.py).

The generator shares the machine with the cloud it measures, so its CPU per request must be
as small as possible: httpx spent ~4 ms of CPU per request here (its connection pool scans
every connection per request, and a failed `import sniffio` on every request), aiohttp
~0.4 ms, this client ~0.13 ms (measured against the real cloud, docs/benchmarks.md
"morning"). Responses are parsed by httptools (llhttp, the parser uvicorn uses), so only the
connection handling is ours: one request at a time per connection (no pipelining), plain
HTTP on loopback, connections kept alive and reused, a timeout per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httptools

# uvicorn closes a connection idle for 5 s (timeout_keep_alive): one idle longer than this is
# closed on our side rather than raced against the server's close.
IDLE_S = 3.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request is written, its response completes a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.got_bytes = False  # any byte of the current response arrived
        self.closed = False
        self.idle_since = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.chunks = b"".join(self.chunks), []
        if not self.parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed before the response"))

    def _fail(self, exc: Exception) -> None:
        self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        self.got_bytes = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one `http://host:port`; as many as requests in flight."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        scheme, _, hostport = base_url.rstrip("/").partition("://")
        if scheme != "http" or not hostport or "/" in hostport:
            raise ValueError(f"plain http://host:port only, not {base_url!r}")
        host, _, port = hostport.rpartition(":")
        self.host, self.port = host, int(port)
        self.timeout_s = timeout_s
        self._host_header = f"Host: {hostport}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self.connects = 0  # connections opened (reuse shows as connects << requests)

    async def post(self, path: str, body: bytes, headers: bytes = b"") -> tuple[int, bytes]:
        """POST `body` (JSON) to `path`; -> (status, response body). `headers`: extra header
        lines, each ending in CRLF. Raises TimeoutError, ConnectionError."""
        request = b"".join(
            (
                b"POST ",
                path.encode(),
                b" HTTP/1.1\r\n",
                self._host_header,
                b"Content-Type: application/json\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n",
                headers,
                b"\r\n",
                body,
            )
        )
        async with asyncio.timeout(self.timeout_s):
            conn = self._take_idle()
            if conn is not None:
                try:
                    return await self._exchange(conn, request)
                except ConnectionError:
                    if conn.got_bytes:
                        raise
                    # The server closed a kept-alive connection as we reused it: nothing of
                    # the request was answered, so it goes again on a new connection once.
            return await self._exchange(await self._connect(), request)

    async def _exchange(self, conn: _Connection, request: bytes) -> tuple[int, bytes]:
        try:
            result = await conn.send(request)
        except BaseException:  # timeout or cancel mid-response: the connection is unusable
            conn.close()
            self._open.discard(conn)
            raise
        if conn.closed:
            self._open.discard(conn)
        else:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        return result

    def _take_idle(self) -> _Connection | None:
        too_old = time.monotonic() - IDLE_S
        while self._idle:
            conn = self._idle.pop()  # the most recently used: least likely to be timed out
            if not conn.closed and conn.idle_since > too_old:
                return conn
            conn.close()
            self._open.discard(conn)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        self.connects += 1
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
