"""The two steady gateway requests, answered below FastAPI's routing (pure ASGI).

Heartbeats are nine in ten gateway requests and event batches (check-in answers, life-sign
summaries, sensor news) the rest (docs/scaling.md). Measured on a real server (py-spy,
docs/benchmarks.md "API cost per request"), a valid heartbeat spent more of its API CPU in
FastAPI's request machinery (routing, dependency solving, body parsing via json.loads and
validation of the dict, validation and serialisation of the returned model) than in its one
SQL statement, and an answer ~10 % of its CPU. Here:
- a well-formed heartbeat (JSON content type, the contract's model accepts the raw bytes) is
  answered by the same `record_heartbeat` as the route;
- an event batch whose body arrived whole is answered by the same `answer_batch` as the
  route (which reads the raw bytes whatever the content type, as this layer does);
errors are answered by the app's own exception handlers, the response is the model's own
JSON. Anything else (another path or method, a heartbeat body the model refuses, a client
gone before its body was read) goes on to the FastAPI route unchanged, which answers it as
before and defines the OpenAPI schema.
"""

from __future__ import annotations

import email.message
import inspect
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from typing import Any

from anyio import to_thread
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ExceptionHandler

from cloud.api.deps import AppState
from cloud.api.hardening import ASGIApp, Message, Receive, Scope, Send
from cloud.api.lanes import GatewayLanes
from cloud.api.routes.gateway import answer_batch, check_body_size, record_heartbeat
from mimamori_wire import v1

HEARTBEAT_PATH = f"{v1.API_PREFIX}/gateway/heartbeat"
EVENTS_PATH = f"{v1.API_PREFIX}/gateway/events"
FAST_PATHS = (HEARTBEAT_PATH, EVENTS_PATH)


@lru_cache(maxsize=64)
def is_json_content_type(value: str) -> bool:
    """Pure: the test FastAPI applies before it parses a body as JSON (a cache: gateways send
    one or two spellings)."""
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def parse_heartbeat(content_type: str, raw: bytes) -> v1.Heartbeat | None:
    """The heartbeat in `raw`, or None when the FastAPI route is to answer (and refuse) it."""
    if not raw or not content_type or not is_json_content_type(content_type):
        return None
    try:
        return v1.Heartbeat.model_validate_json(raw)
    except ValidationError:
        return None


class GatewayFastPath:
    def __init__(
        self, app: ASGIApp, state: AppState, handlers: Mapping[Any, ExceptionHandler]
    ) -> None:
        self.app = app
        self.state = state
        # The FastAPI app's own exception handlers (the same dict, so handlers added after
        # this layer was built count too): an error is answered as the route's would be.
        self.handlers = handlers
        # Gateway work has threads of its own: it never queues the desk, nor help behind it.
        self.lanes = GatewayLanes(
            state.settings.gateway_threads, state.settings.gateway_urgent_threads
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in FAST_PATHS or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw, complete, receive = await _read_body(receive)
        work = self._work(scope["path"], _headers(scope), raw) if complete else None
        if work is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = await to_thread.run_sync(work, limiter=self.lanes.for_body(raw))
        except Exception as exc:
            handler = handler_for(exc, self.handlers)
            if handler is None:
                raise  # ServerErrorMiddleware: a 500, logged, as from the route
            await _respond(handler, exc, scope, receive, send)
            return
        payload = answer.model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _work(
        self, path: str, headers: dict[bytes, str], raw: bytes
    ) -> Callable[[], v1.HeartbeatResponse | v1.BatchResult] | None:
        """The request's whole work (run in the thread pool), or None: the route answers."""
        authorization = headers.get(b"authorization")
        if path == EVENTS_PATH:
            return partial(self._batch, headers.get(b"content-length"), authorization, raw)
        body = parse_heartbeat(headers.get(b"content-type", ""), raw)
        if body is None:
            return None
        return partial(record_heartbeat, self.state, authorization, body)

    def _batch(self, declared: str | None, authorization: str | None, raw: bytes) -> v1.BatchResult:
        check_body_size(declared, len(raw), self.state.settings.max_body_bytes)
        return answer_batch(self.state, authorization, raw)


def handler_for(exc: Exception, handlers: Mapping[Any, ExceptionHandler]) -> Any:
    """Pure: the handler Starlette's ExceptionMiddleware would pick for `exc` (the nearest
    class in its MRO with one; `Exception` itself is the server-error middleware's)."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


async def _respond(
    handler: Any, exc: Exception, scope: Scope, receive: Receive, send: Send
) -> None:
    request = Request(scope, receive)
    if inspect.iscoroutinefunction(handler):
        response = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    await response(scope, receive, send)


def _headers(scope: Scope) -> dict[bytes, str]:
    """The first value of each header (what Starlette's `headers.get` answers)."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key not in found:
            found[key] = value.decode("latin-1")
    return found


async def _read_body(receive: Receive) -> tuple[bytes, bool, Receive]:
    """The whole body (empty if the client went away first), whether it arrived whole, and
    a `receive` that gives the app the same messages again."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    complete = messages[-1]["type"] == "http.request"
    raw = b"".join(m.get("body", b"") for m in messages) if complete else b""
    pending = messages

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return raw, complete, replay
