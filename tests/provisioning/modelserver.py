"""A real HTTP file server for `model install` tests: Range requests, and a switch that drops
the connection halfway through the first download (what a flaky mobile link does)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ModelServer:
    files: dict[str, Path] = field(default_factory=dict)
    drop_first_at: float | None = None  # fraction of the body sent before the first cut
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _dropped: bool = False

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def start(self) -> ModelServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        name = handler.path.lstrip("/")
        range_header = handler.headers.get("Range")
        self.requests.append((name, range_header))
        path = self.files.get(name)
        if path is None:
            handler.send_error(404)
            return
        size = path.stat().st_size
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match:
            start = int(match.group(1))
            if start >= size:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            handler.send_response(200)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(size - start))
        handler.end_headers()
        cut = None
        if self.drop_first_at is not None and not self._dropped:
            self._dropped = True
            cut = int(size * self.drop_first_at)
        with open(path, "rb") as source:
            source.seek(start)
            if cut is None:
                shutil.copyfileobj(source, handler.wfile, 1 << 20)
                return
            handler.wfile.write(source.read(cut - start))
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)  # the link drops mid-body
            handler.close_connection = True
