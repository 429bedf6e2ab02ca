"""What every request passes before any route sees it (pure ASGI, no body parsing).

- Security headers on every response (CSP without inline script, no framing, nosniff).
- /metrics needs its bearer token unless made public (Settings.metrics_token / metrics_public).
- Authenticated APIs are checked before their body is read: the admin API compares its
  token here (no database needed), the gateway API needs a bearer header at all (the token
  itself is looked up by the route).
- Bodies are size-limited per route class while streaming, and JSON API bodies nested
  deeper than Settings.max_json_depth are refused before any parser recurses into them.
- Admin API bodies carry no control characters in any text (cloud.services.text): one rule
  for every admin route; free-text notes (ADMIN_MULTILINE_FIELDS) may hold line breaks.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

from cloud.core import metrics
from cloud.core.config import Settings
from cloud.services import text
from mimamori_wire import v1

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Family pages carry a signed token in their URL: never leak it to another site.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

ADMIN_PREFIX = f"{v1.API_PREFIX}/admin"
GATEWAY_PREFIX = f"{v1.API_PREFIX}/gateway"
# Gateway calls that come before a token exists.
GATEWAY_OPEN_PATHS = frozenset({f"{GATEWAY_PREFIX}/enroll"})
# Dashboard forms and admin JSON are small; only the gateway event batch is large.
SMALL_BODY_BYTES = 256 * 1024
ADMIN_MULTILINE_FIELDS = frozenset({"note", "reason", "visitor_notes"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """Pure: the deepest nesting of arrays/objects in a JSON text, without parsing it.

    Strings are removed first so brackets inside them do not count; for malformed text
    the answer is an upper bound, which is all a limit needs."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_BRACKET_STEP[b] for b in brackets), default=0)


def deeper_than(raw: bytes, limit: int) -> int | None:
    """Pure: json_depth(raw) if it is over `limit`, else None. A text holds no more levels
    than opening brackets (two C-speed counts): most bodies are not scanned at all, which
    was a few per cent of a heartbeat's API CPU (docs/benchmarks.md "API cost per request")."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return None
    depth = json_depth(raw)
    return depth if depth > limit else None


def admin_text_problem(value: object, where: str = "") -> str | None:
    """Pure: the first text in a parsed admin body that breaks cloud.services.text's rules,
    named by its path (`contacts.0.name`), or None."""
    if isinstance(value, str):
        field = where.rsplit(".", 1)[-1]
        return text.problem(value, where or "body", multiline=field in ADMIN_MULTILINE_FIELDS)
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        problem = text.problem(key, path) if isinstance(key, str) else None
        problem = problem or admin_text_problem(item, path)
        if problem:
            return problem
    return None


def bearer_matches(authorization: str, expected: str | None) -> bool:
    """Pure: `Bearer <expected>`, compared in constant time; False when nothing is expected."""
    if not expected or not authorization.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), expected.encode())


def body_limit(path: str, settings: Settings) -> int:
    if path.startswith(GATEWAY_PREFIX):
        return settings.max_body_bytes
    return SMALL_BODY_BYTES


def _header(scope: Scope, name: bytes) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


class Refusal(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class HardeningMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        try:
            _check_url(scope)
            self._check_access(scope)
            if scope["method"] in BODY_METHODS:
                receive = await self._checked_body(scope, receive)
        except Refusal as refusal:
            metrics.REJECTED.labels(refusal.error).inc()
            await _send_json(send, refusal.status, refusal.error, refusal.detail)
            return
        await self.app(scope, receive, send)

    def _check_access(self, scope: Scope) -> None:
        path, authorization = scope["path"], _header(scope, b"authorization")
        if path == "/metrics" and not self.settings.metrics_public:
            if not bearer_matches(authorization, self.settings.metrics_token):
                raise Refusal(
                    401,
                    "metrics_token_required",
                    "Send Authorization: Bearer <MIMAMORI_METRICS_TOKEN> "
                    "(or set MIMAMORI_METRICS_PUBLIC=1 on a private network).",
                )
        elif path.startswith(ADMIN_PREFIX):
            if not self.settings.admin_token:
                raise Refusal(
                    401, "admin_disabled", "The admin API is off: set MIMAMORI_ADMIN_TOKEN."
                )
            if not bearer_matches(authorization, self.settings.admin_token):
                raise Refusal(
                    401, "invalid_admin_token", "Send Authorization: Bearer <admin token>."
                )
        elif (
            path.startswith(GATEWAY_PREFIX)
            and path not in GATEWAY_OPEN_PATHS
            and not authorization.lower().startswith("bearer ")
        ):
            raise Refusal(401, "missing_token", "Send Authorization: Bearer <gateway token>.")

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the body within its limit, check JSON depth, and replay it to the app."""
        limit = body_limit(scope["path"], self.settings)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see it as it would have.
                return _replay([message], receive)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if scope["path"].startswith(v1.API_PREFIX) and body:
            depth = deeper_than(body, self.settings.max_json_depth)
            if depth is not None:
                raise Refusal(
                    422,
                    "body_too_deep",
                    f"JSON nested {depth} levels deep; at most "
                    f"{self.settings.max_json_depth} are accepted",
                )
        if scope["path"].startswith(ADMIN_PREFIX) and body:
            self._check_admin_text(body)
        return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)

    @staticmethod
    def _check_admin_text(body: bytes) -> None:
        try:
            parsed = json.loads(body)  # depth already bounded above
        except ValueError:
            return  # not JSON: the route answers its own 422
        problem = admin_text_problem(parsed)
        if problem:
            raise Refusal(422, "invalid_text", problem)


def url_problem(path: str, query_string: bytes) -> str | None:
    """Pure: a control character in the (decoded) path or query, which no route needs and
    PostgreSQL cannot even compare (NUL), or None."""
    query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, errors="replace")
    for part in (path, *(item for pair in query for item in pair)):
        problem = text.problem(part, "url")
        if problem:
            return problem
    return None


def _check_url(scope: Scope) -> None:
    problem = url_problem(scope["path"], scope.get("query_string", b""))
    if problem:
        raise Refusal(422, "invalid_url", problem)


def _too_large(limit: int) -> Refusal:
    return Refusal(413, "body_too_large", f"request body over {limit} bytes")


def _replay(messages: list[Message], original: Receive) -> Receive:
    """The messages already read, then the client's own (a later disconnect, if any)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await original()

    return receive


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {key.lower() for key, _ in headers}
            headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
            message["headers"] = headers
        await send(message)

    return wrapped


async def _send_json(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
