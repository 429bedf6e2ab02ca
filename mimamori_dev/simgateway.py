"""A simulated gateway uplink over the real gateway HTTP API, built from the v1 wire contract.

It enrolls with a one-time code, makes `v1.Event`s, posts `v1.EventBatch`es and sends
`v1.Heartbeat`s the way the gateway daemon does, and keeps an outbox like the daemon's: events
leave it only after a 200 that lists them as accepted or duplicate. Used by the scenario
tests, the demo, the benchmarks and the cloud and dashboard test fixtures.

It talks to any httpx-style client: `OneShotClient` for a cloud in another process or thread,
an `httpx.Client` with a base URL, or FastAPI's `TestClient` for an in-process app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

import httpx
from pydantic import BaseModel

from mimamori_wire import v1

GATEWAY_PREFIX = f"{v1.API_PREFIX}/gateway"


class HttpClient(Protocol):
    @property
    def base_url(self) -> Any: ...  # str, or httpx.URL for an httpx.Client / TestClient

    def post(self, url: str, **kw: Any) -> httpx.Response: ...

    def get(self, url: str, **kw: Any) -> httpx.Response: ...


@dataclass(frozen=True)
class OneShotClient:
    """One httpx request per call against a base URL: nothing pooled, nothing to close."""

    base_url: str
    timeout: float = 30.0

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.base_url}{url}", timeout=self.timeout, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.base_url}{url}", timeout=self.timeout, **kw)


def enroll_gateway(
    http: HttpClient, code: str, *, hardware_id: str, software_version: str
) -> v1.EnrollResponse:
    """Redeem a one-time enrollment code, as `mimamori-provision enroll` does."""
    request = v1.EnrollRequest(
        enrollment_code=code, hardware_id=hardware_id, software_version=software_version
    )
    response = http.post(f"{GATEWAY_PREFIX}/enroll", json=request.model_dump(mode="json"))
    _expect_200("enroll", response)
    return v1.EnrollResponse.model_validate(response.json())


def _expect_200(what: str, response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{what} -> {response.status_code}: {response.text}")


@dataclass
class SimGateway:
    """One home's uplink: events, batches, retries, heartbeats and command acknowledgements."""

    http: HttpClient
    household_id: str
    gateway_id: str
    token: str
    software_version: str = "sim"
    # Stamps events made without explicit times: a settable cloud clock in time-travel tests.
    clock: Callable[[], datetime] = v1.utcnow
    outbox: list[v1.Event] = field(default_factory=list)
    # Every event id the cloud confirmed (accepted or duplicate) in a 200 we saw.
    acknowledged: set[str] = field(default_factory=set)
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    done_commands: set[str] = field(default_factory=set)

    @classmethod
    def enroll(
        cls,
        http: HttpClient,
        code: str,
        *,
        hardware_id: str,
        software_version: str = "sim",
        clock: Callable[[], datetime] = v1.utcnow,
    ) -> Self:
        body = enroll_gateway(
            http, code, hardware_id=hardware_id, software_version=software_version
        )
        return cls(http, body.household_id, body.gateway_id, body.token, software_version, clock)

    @property
    def base_url(self) -> str:
        """The cloud's address, for tests that call the gateway API themselves."""
        return str(self.http.base_url).rstrip("/")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def event(
        self,
        kind: v1.EventKind,
        payload: BaseModel | Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        recorded_at: datetime | None = None,
    ) -> v1.Event:
        """A new event stamped by `clock` unless told when it happened and was recorded."""
        now = self.clock()
        return v1.Event.create(
            household_id=self.household_id,
            gateway_id=self.gateway_id,
            kind=kind,
            payload=payload if isinstance(payload, BaseModel) else dict(payload),
            occurred_at=occurred_at or now,
            recorded_at=recorded_at or now,
        )

    def post_events(self, events: Iterable[v1.Event]) -> httpx.Response:
        """POST one batch and hand back the raw response (for tests of status codes)."""
        batch = v1.EventBatch(events=list(events))
        return self.http.post(
            f"{GATEWAY_PREFIX}/events",
            json=batch.model_dump(mode="json", by_alias=True),
            headers=self.headers,
        )

    def send(self, *events: v1.Event) -> v1.BatchResult:
        """POST one batch now, bypassing the outbox; anything but a 200 raises."""
        response = self.post_events(events)
        _expect_200("events", response)
        return v1.BatchResult.model_validate(response.json())

    def record(
        self,
        kind: v1.EventKind,
        payload: BaseModel | Mapping[str, Any],
        occurred_at: datetime,
        recorded_at: datetime | None = None,
    ) -> v1.Event:
        """Put an event in the outbox; `upload` sends it."""
        event = self.event(
            kind, payload, occurred_at=occurred_at, recorded_at=recorded_at or occurred_at
        )
        self.outbox.append(event)
        return event

    def upload(self, *, lose_response: bool = False, resend: bool = False) -> int:
        """Post the outbox in priority order, batches of up to MAX_BATCH_EVENTS.

        lose_response: the 200 never reaches us (network cut): keep the events, resend later.
        resend: post the same batch again right away (a retry after a timeout).
        Returns the number of batches posted.
        """
        posted = 0
        while self.outbox:
            ordered = sorted(self.outbox, key=lambda e: v1.priority_of(e.kind))
            batch = ordered[: v1.MAX_BATCH_EVENTS]
            result = self.send(*batch)
            posted += 1
            if resend:
                again = self.send(*batch)
                assert set(again.duplicates) == {e.id for e in batch}, again
            if lose_response:
                return posted
            self._confirm(result)
        return posted

    def _confirm(self, result: v1.BatchResult) -> None:
        if result.rejected:
            raise RuntimeError(f"cloud rejected events: {result.rejected}")
        self.accepted.extend(result.accepted)
        self.duplicates.extend(result.duplicates)
        done = set(result.accepted) | set(result.duplicates)
        self.acknowledged |= done
        self.outbox = [e for e in self.outbox if e.id not in done]

    def heartbeat(
        self,
        devices: Iterable[v1.DeviceHealth | Mapping[str, Any]] = (),
        *,
        outbox_depth: int | None = None,
    ) -> v1.HeartbeatResponse:
        """Report health (the outbox's depth unless told otherwise); -> pending commands."""
        beat = v1.Heartbeat(
            software_version=self.software_version,
            uptime_s=60,
            outbox_depth=len(self.outbox) if outbox_depth is None else outbox_depth,
            devices=[v1.DeviceHealth.model_validate(d) for d in devices],
        )
        response = self.http.post(
            f"{GATEWAY_PREFIX}/heartbeat", json=beat.model_dump(mode="json"), headers=self.headers
        )
        _expect_200("heartbeat", response)
        return v1.HeartbeatResponse.model_validate(response.json())

    def finish_commands(self, commands: list[v1.Command], now: datetime) -> list[v1.Command]:
        """Record command.done once per command (the daemon does the same); -> the new ones."""
        new = [c for c in commands if c.id not in self.done_commands]
        for command in new:
            self.done_commands.add(command.id)
            self.record(v1.EventKind.COMMAND_DONE, v1.CommandDone(command_id=command.id), now)
        return new
