"""A local stand-in for the LINE Messaging API (the real one is unreachable here).

Speaks the endpoints the cloud uses, with the behaviour of the real API that matters to it:
- `POST /v2/bot/message/push`: 200 `{"sentMessages": [...]}`; `X-Line-Retry-Key` makes a
  retried push land once: the first accepted request is delivered, a repeat with the same key
  gets 409 with `x-line-accepted-request-id` (as LINE does); 400 for an unknown user or one
  who blocked the account; 429 with `Retry-After` while `rate_limited` pushes are configured.
- `POST /v2/bot/message/reply`: one reply per reply token (400 for an unknown/used token);
  `reply_failures` answers the next replies with those statuses (500, 429 with Retry-After)
  without using the token up, as a busy LINE would.
- `GET /v2/bot/profile/{userId}`: the profile, 404 for an unknown user.
- Every request needs `Authorization: Bearer <token>` with a configured token, else 401.

Everything received is recorded (`pushes`, `replies`, `requests`) and `wait_for` blocks on a
condition, for tests and the demo's mail page. Run alone: `python -m mimamori_dev.line_standin`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mimamori_dev.services import free_port

PROFILE_PATH = re.compile(r"^/v2/bot/profile/([^/?]+)$")
MAX_MESSAGES = 5
MAX_TEXT = 5000


@dataclass
class Received:
    """One accepted push or reply."""

    to: str
    messages: list[dict[str, Any]]
    retry_key: str | None
    request_id: str
    at: float  # time.time()

    def texts(self) -> list[str]:
        return [str(m.get("text") or m.get("altText") or "") for m in self.messages]


@dataclass
class LineStandin:
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    tokens: set[str] = field(default_factory=lambda: {"standin-token"})
    users: dict[str, str] = field(default_factory=dict)  # userId -> displayName
    blocked: set[str] = field(default_factory=set)
    rate_limited: int = 0  # the next N pushes get 429
    reply_failures: list[int] = field(default_factory=list)  # statuses for the next replies
    # While set and not yet released, reply requests wait (a slow LINE): tests use it to see
    # that the webhook's 200 never waits for its replies.
    replies_held: threading.Event | None = None
    retry_after_s: int = 1
    pushes: list[Received] = field(default_factory=list)
    replies: list[Received] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    reply_tokens: set[str] = field(default_factory=set)
    # Also keep each accepted push as <time_ns>-line-<n>.json here (the demo's mail page).
    maildir: Path | None = None
    _accepted_keys: dict[str, str] = field(default_factory=dict)  # retry key -> request id
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_user(self, user_id: str, name: str = "家族") -> None:
        self.users[user_id] = name

    def new_reply_token(self) -> str:
        token = uuid.uuid4().hex
        self.reply_tokens.add(token)
        return token

    def start(self) -> LineStandin:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="line-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def pushes_to(self, user_id: str) -> list[Received]:
        with self._cond:
            return [p for p in self.pushes if p.to == user_id]

    def wait_for(self, count: int, timeout: float = 30.0, to: str | None = None) -> list[Received]:
        """Block until at least `count` pushes (to `to`, if given) arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [p for p in self.pushes if to is None or p.to == to]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} of {count} LINE pushes after {timeout} s")
                self._cond.wait(left)

    def wait_for_replies(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until at least `count` replies were accepted."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.replies) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.replies)} of {count} replies after {timeout} s")
                self._cond.wait(left)
            return list(self.replies)

    def reply_attempts(self) -> list[int]:
        """The status of every reply request, in order."""
        with self._cond:
            return [status for _, path, status in self.requests if path.endswith("/reply")]

    # --- request handling (called from the server threads) ---------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        status, extra, payload = self._route(method, path, headers, body)
        with self._cond:
            self.requests.append((method, path, status))
            self._cond.notify_all()
        return status, extra, payload

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, {}, {"message": "Authentication failed. Confirm that the access token."}
        if method == "GET" and (match := PROFILE_PATH.match(path)):
            return self._profile(match.group(1))
        if method != "POST" or path not in ("/v2/bot/message/push", "/v2/bot/message/reply"):
            return 404, {}, {"message": "Not found"}
        try:
            request = json.loads(body)
            messages = _valid_messages(request.get("messages"))
        except (ValueError, AttributeError, TypeError) as exc:
            return 400, {}, {"message": f"The request body has 1 error(s): {exc}"}
        if path.endswith("/reply"):
            return self._reply(str(request.get("replyToken", "")), messages)
        return self._push(str(request.get("to", "")), messages, headers.get("x-line-retry-key"))

    def _profile(self, user_id: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        if user_id not in self.users:
            return 404, {}, {"message": "Not found"}
        return 200, {}, {"userId": user_id, "displayName": self.users[user_id], "language": "ja"}

    def _push(
        self, to: str, messages: list[dict[str, Any]], retry_key: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._cond:
            if retry_key is not None and retry_key in self._accepted_keys:
                accepted = self._accepted_keys[retry_key]
                return (
                    409,
                    {"x-line-accepted-request-id": accepted},
                    {"message": "The retry key is already accepted"},
                )
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return (
                    429,
                    {"Retry-After": str(self.retry_after_s)},
                    {"message": "The API rate limit has been exceeded. Try again later."},
                )
            if to not in self.users or to in self.blocked:
                return 400, {}, {"message": "Failed to send messages"}
            request_id = uuid.uuid4().hex
            if retry_key is not None:
                self._accepted_keys[retry_key] = request_id
            self.pushes.append(Received(to, messages, retry_key, request_id, time.time()))
            self._keep(to, messages)
            self._cond.notify_all()
        sent = [{"id": str(time.time_ns()), "quoteToken": uuid.uuid4().hex} for _ in messages]
        return 200, {"x-line-request-id": request_id}, {"sentMessages": sent}

    def _keep(self, to: str, messages: list[dict[str, Any]]) -> None:
        if self.maildir is None:
            return
        self.maildir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-line-{len(self.pushes):05d}.json"
        record = {"to": to, "name": self.users.get(to, ""), "messages": messages}
        (self.maildir / name).write_text(json.dumps(record, ensure_ascii=False, indent=1))

    def _reply(
        self, token: str, messages: list[dict[str, Any]]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.replies_held is not None:
            self.replies_held.wait(timeout=30)
        with self._cond:
            if token not in self.reply_tokens:
                return 400, {}, {"message": "Invalid reply token"}
            if self.reply_failures:
                status = self.reply_failures.pop(0)
                extra = {"Retry-After": str(self.retry_after_s)} if status == 429 else {}
                return status, extra, {"message": "Internal server error"}
            self.reply_tokens.discard(token)
            self.replies.append(Received(token, messages, None, uuid.uuid4().hex, time.time()))
            self._cond.notify_all()
        return 200, {}, {"sentMessages": [{"id": str(time.time_ns())} for _ in messages]}


def _valid_messages(messages: object) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise ValueError(f"messages must be a list of 1 to {MAX_MESSAGES}")
    for message in messages:
        if not isinstance(message, dict) or "type" not in message:
            raise ValueError("a message needs a type")
        if message["type"] == "text" and not 1 <= len(str(message.get("text", ""))) <= MAX_TEXT:
            raise ValueError(f"text must be 1 to {MAX_TEXT} characters")
    return messages


class _Handler(BaseHTTPRequestHandler):
    owner: LineStandin
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload = self.owner.handle(self.command, self.path, headers, body)
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


# --- linking a simulated family member, as LINE and the family would ------------------------

STANDIN_SECRET = "standin-channel-secret-0123456789"


def sign(body: bytes, secret: str = STANDIN_SECRET) -> str:
    """X-Line-Signature exactly as LINE makes it: base64(HMAC-SHA256(secret, raw body))."""
    import base64
    import hashlib
    import hmac

    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def setup_channel(admin: Any, municipality_id: str, office_id: str | None, standin: LineStandin):
    """The office's LINE channel, pointing at the stand-in's token and the known secret."""
    return admin.call(
        "PUT",
        "/line-channels",
        json={
            "municipality_id": municipality_id,
            "office_id": office_id,
            "channel_id": f"{1650000000 + standin.port}",
            "channel_secret": STANDIN_SECRET,
            "access_token": next(iter(standin.tokens)),
        },
    )


def link_contact(
    http: Any, admin: Any, contact_id: str, user_id: str, standin: LineStandin, name: str = "家族"
) -> None:
    """Issue a link code and send it from `user_id` through the signed webhook."""
    standin.add_user(user_id, name)
    code = admin.call("POST", f"/contacts/{contact_id}/line-link-code")["code"]
    message = {
        "type": "message",
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "timestamp": int(time.time() * 1000),
        "mode": "active",
        "replyToken": standin.new_reply_token(),
        "source": {"type": "user", "userId": user_id},
        "message": {"type": "text", "id": "1", "text": code},
    }
    body = json.dumps({"destination": "U0", "events": [message]}).encode()
    response = http.post(
        "/api/v1/line/webhook",
        content=body,
        headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
    )
    if response.status_code != 200 or response.json().get("results") != ["linked"]:
        raise RuntimeError(f"linking {contact_id} failed: {response.status_code} {response.text}")


def line_user_id(index: int) -> str:
    return f"U{index:032x}"


if __name__ == "__main__":  # pragma: no cover - manual use
    standin = LineStandin(port=int(__import__("os").environ.get("PORT", "8090"))).start()
    print(f"LINE stand-in on {standin.base_url}", flush=True)
    threading.Event().wait()
