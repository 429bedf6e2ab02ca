"""HTTPS to the cloud: event batches from the outbox, heartbeat, config (ETag).

Every response is validated against the wire contract; anything unexpected raises
CloudError (counted by the caller, retried with backoff), never crashes a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from gateway.outbox import Outbox, PendingEvent
from mimamori_wire.v1 import (
    API_PREFIX,
    BatchResult,
    GatewayConfig,
    Heartbeat,
    HeartbeatResponse,
    parse_command,
    undeclared_fields,
    utcnow,
)

log = logging.getLogger(__name__)


class CloudError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MalformedResponse(CloudError):
    pass


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Certificate verification always on; a custom CA bundle replaces the system store."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return ssl.create_default_context()


@dataclass
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog), capped."""

    base_s: float = 1.0
    max_s: float = 300.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.max_s, self.base_s * 2 ** min(self.failures - 1, 30))
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class CloudClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        ca_bundle: Path | None = None,
        timeout_s: float = 20.0,
        on_date: Callable[[str | None], None] | None = None,
    ) -> None:
        verify: ssl.SSLContext | bool = ssl_context(ca_bundle)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "mimamori-gateway"},
            verify=verify,
            timeout=timeout_s,
        )
        self._on_date = on_date

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CloudError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if self._on_date is not None:
            self._on_date(response.headers.get("date"))
        if response.status_code >= 400:
            raise CloudError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        return response

    async def post_events(self, pending: list[PendingEvent]) -> BatchResult:
        # Bodies are stored as wire JSON already: join them, never re-serialise.
        body = ('{"events":[' + ",".join(p.body for p in pending) + "]}").encode("utf-8")
        response = await self._request(
            "POST", "/gateway/events", content=body, headers={"Content-Type": "application/json"}
        )
        return _parse(BatchResult, response)

    async def heartbeat(self, beat: Heartbeat) -> tuple[HeartbeatResponse, list[Any]]:
        """The response, plus raw commands that did not validate (one bad command must not
        hide the good ones, nor the config version)."""
        response = await self._request(
            "POST", "/gateway/heartbeat", json=beat.model_dump(mode="json")
        )
        try:
            data = response.json()
        except ValueError:
            raise MalformedResponse("/gateway/heartbeat: response is not JSON") from None
        if not isinstance(data, dict):
            raise MalformedResponse("/gateway/heartbeat: response is not an object")
        raw_commands = data.pop("commands", None) or []
        if not isinstance(raw_commands, list):
            raw_commands = [raw_commands]
        try:
            parsed = HeartbeatResponse.model_validate(data)
        except ValidationError as exc:
            raise MalformedResponse(f"/gateway/heartbeat: {exc.errors()[0]['msg']}") from None
        bad = []
        for raw in raw_commands:
            try:
                command = parse_command(raw)
            except ValidationError:
                bad.append(raw)
                continue
            _log_undeclared("command", command, raw)
            parsed.commands.append(command)
        return parsed, bad

    async def get_config(self, etag: str | None) -> tuple[GatewayConfig | None, str | None]:
        headers = {"If-None-Match": etag} if etag else {}
        response = await self._request("GET", "/gateway/config", headers=headers)
        if response.status_code == 304:
            return None, etag
        config = _parse(GatewayConfig, response)
        _log_undeclared("config", config, response.json())
        return config, response.headers.get("etag")


def _log_undeclared(what: str, parsed: Any, raw: Any) -> None:
    """A newer cloud may add fields: ignore them, but say so (docs/decisions.md)."""
    unknown = undeclared_fields(parsed, raw)
    if unknown:
        log.warning("%s from cloud has fields this gateway ignores: %s", what, unknown[:10])


def _parse(model: Any, response: httpx.Response) -> Any:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise MalformedResponse(
            f"{response.request.url.path}: response is not a {model.__name__}: "
            f"{exc.error_count()} errors, first: {exc.errors()[0]['msg']}"
        ) from None


@dataclass
class UplinkStats:
    batches_ok: int = 0
    events_sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: int = 0
    malformed: int = 0
    last_upload_at: datetime | None = None
    last_error: str | None = None
    next_retry_s: float | None = None


class Uploader:
    """Drains the outbox in order (priority, then insertion), deleting only after a 200."""

    def __init__(
        self,
        outbox: Outbox,
        client: CloudClient,
        batch_size: int = 500,
        backoff: Backoff | None = None,
        idle_wait_s: float = 30.0,
        max_body_bytes: int = 900_000,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.batch_size = batch_size
        self.max_body_bytes = max_body_bytes  # the cloud refuses bodies over 1 MB (413)
        self.backoff = backoff or Backoff()
        self.idle_wait_s = idle_wait_s
        self.stats = UplinkStats()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()

    def wake(self) -> None:
        """New events committed (may be called via loop.call_soon_threadsafe)."""
        self._wake.set()

    def urgent(self) -> None:
        """A help request: cut any backoff short and try now."""
        self._urgent.set()
        self._wake.set()

    async def run(self) -> None:
        while True:
            sent = await self.upload_once()
            if sent is None:
                delay = self.backoff.next_delay()
                self.stats.next_retry_s = delay
                await _wait_for(self._urgent, delay)
                self._urgent.clear()
            elif sent == 0:
                await _wait_for(self._wake, self.idle_wait_s)
                self._wake.clear()

    async def upload_once(self) -> int | None:
        """One batch. Returns events handled, 0 when empty, None on failure."""
        pending = self._fit(await asyncio.to_thread(self.outbox.peek, self.batch_size))
        if not pending:
            return 0
        try:
            result = await self.client.post_events(pending)
            done = self._settle(pending, result)
        except CloudError as exc:
            if exc.status == 413 and self.batch_size > 1:
                self.batch_size = max(1, self.batch_size // 2)  # adapt, keep the order
            self.stats.failures += 1
            self.stats.malformed += isinstance(exc, MalformedResponse)
            self.stats.last_error = str(exc)
            log.warning("upload of %d events failed: %s", len(pending), exc)
            return None
        await self.outbox.delete(done.stored)
        if done.rejected:
            await self.outbox.reject(done.rejected)
        self.backoff.reset()
        self.stats.next_retry_s = None
        self.stats.batches_ok += 1
        self.stats.events_sent += len(done.stored)
        self.stats.duplicates += len(result.duplicates)
        self.stats.rejected += len(done.rejected)
        self.stats.last_upload_at = utcnow()
        if done.missing:
            # The cloud did not mention some events: keep them and treat as a soft failure.
            self.stats.malformed += 1
            log.warning("cloud response omitted %d events; will resend", len(done.missing))
            return None
        return len(pending)

    def _fit(self, pending: list[PendingEvent]) -> list[PendingEvent]:
        """The longest head of the queue whose request body stays under the cloud's limit."""
        size = 16
        for i, p in enumerate(pending):
            size += len(p.body.encode("utf-8")) + 1
            if size > self.max_body_bytes and i > 0:
                return pending[:i]
        return pending

    def _settle(self, pending: list[PendingEvent], result: BatchResult) -> _Settled:
        by_id = {p.id: p for p in pending}
        stored = [by_id[i] for i in {*result.accepted, *result.duplicates} if i in by_id]
        rejected = []
        for bad in result.rejected:
            if bad.id in by_id:
                log.error("cloud rejected event %s: %s", bad.id, bad.error)
                rejected.append((by_id[bad.id], bad.error))
        known = {p.id for p in stored} | {p.id for p, _ in rejected}
        if not known:
            raise MalformedResponse("cloud response names none of the events sent")
        missing = [p.id for p in pending if p.id not in known]
        return _Settled(stored, rejected, missing)


@dataclass
class _Settled:
    stored: list[PendingEvent]
    rejected: list[tuple[PendingEvent, str]]
    missing: list[str]


async def _wait_for(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
