"""The HTTPS client for the cloud's gateway API: events, heartbeat (commands), config (ETag).

Every response is validated against the wire contract; anything unexpected raises
CloudError (counted by the caller, retried with backoff), never crashes a loop. Certificate
verification is always on.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from gateway.outbox import PendingEvent
from mimamori_wire.v1 import (
    API_PREFIX,
    BatchResult,
    GatewayConfig,
    Heartbeat,
    HeartbeatResponse,
    parse_command,
    undeclared_fields,
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
