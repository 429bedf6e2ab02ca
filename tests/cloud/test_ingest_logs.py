"""`mimamori-cloud serve` writes JSON lines (uvicorn's own included), and every event the
ingest does not store leaves one line with its id, the gateway, the household and the reason."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from mimamori_dev.services import CloudServer
from mimamori_wire.v1 import ClockSkew, Event, EventKind
from tests.gateway.conftest import enroll


def _event(household_id: str, gateway_id: str, occurred_at: datetime) -> dict[str, Any]:
    event = Event.create(
        household_id=household_id,
        gateway_id=gateway_id,
        kind=EventKind.GATEWAY_CLOCK_SKEW,
        payload=ClockSkew(skew_s=1.0, source="jump", synchronized=True),
        occurred_at=occurred_at,
        recorded_at=datetime.now(UTC),
    )
    return event.model_dump(mode="json", by_alias=True)


def _lines(log: Path, wanted: int, event: str, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """Every line of the server's log as JSON, once `wanted` lines named `event` are there."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        if len([x for x in lines if x["event"] == event]) >= wanted:
            return lines
        assert time.monotonic() < deadline, f"no {event} line in {log}"
        time.sleep(0.05)


def test_poisoned_events_are_rejected_with_a_log_line_each(cloud_server: CloudServer) -> None:
    home = enroll(cloud_server)
    now = datetime.now(UTC)  # wall clock: a real `serve` process judges event times by it
    good = _event(home.household_id, home.gateway_id, now)
    too_old = _event(home.household_id, home.gateway_id, datetime(2019, 1, 1, tzinfo=UTC))
    nul = _event(home.household_id, home.gateway_id, now)
    nul["payload"]["source"] = "jump\u0000"
    response = httpx.post(
        f"{home.base_url}/api/v1/gateway/events",
        json={"events": [good, too_old, nul]},
        headers={"Authorization": f"Bearer {home.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == [good["id"]]
    reasons = {r["id"]: r["reason"] for r in body["rejected"]}
    assert reasons == {too_old["id"]: "time_out_of_range", nul["id"]: "control_character"}

    log = cloud_server.workdir / f"cloud-{cloud_server.port}.log"
    lines = _lines(log, 2, "ingest.rejected")  # every line of the API process is JSON
    logged = {x["event_id"]: x for x in lines if x["event"] == "ingest.rejected"}
    assert set(logged) == set(reasons)
    for event_id, reason in reasons.items():
        line = logged[event_id]
        assert line["reason"] == reason and line["level"] == "warning"
        assert line["gateway_id"] == home.gateway_id
        assert line["household_id"] == home.household_id
    assert any(x["logger"].startswith("uvicorn") for x in lines)  # uvicorn's own, as JSON
    assert not any(x["logger"] == "uvicorn.access" for x in lines)  # access log off
    assert not any("color_message" in x for x in lines)

    # A request refused as a whole (not a batch at all) is one line too, with its reason.
    response = httpx.post(
        f"{home.base_url}/api/v1/gateway/events",
        content=b"[1, 2",
        headers={"Authorization": f"Bearer {home.token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422
    refused = [x for x in _lines(log, 1, "ingest.batch_refused") if x["event"].endswith("refused")]
    assert refused[-1]["reason"] == "malformed_batch" and refused[-1]["status"] == 422
