"""The gateway API over HTTP against `mimamori-cloud serve` (uvicorn subprocess),
on SQLite and on PostgreSQL: enroll, idempotent ingest, bad input, heartbeat, config."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import DateTime, create_engine, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB

from cloud.db import make_engine
from cloud.models import EventRecord
from mimamori_wire import v1


def _setup(server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    muni = server.cli_id("create-municipality", "--name", "横浜市")
    office = server.cli_id(
        "create-office",
        "--municipality",
        muni,
        "--name",
        "港北郵便局",
        "--phone",
        "045-000-1111",
        "--email",
        "office@example.jp",
    )
    household = server.cli_id(
        "create-household",
        "--office",
        office,
        "--name",
        "山田 花子",
        "--slot",
        "08:00",
        "--slot",
        "19:30",
    )
    return household, server.cli_id("issue-code", "--household", household)


def _enroll(server, code: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{server.base_url}/api/v1/gateway/enroll",
        json={"enrollment_code": code, "hardware_id": "pi-1", "software_version": "1.0"},
    )


def _event(household: str, gateway: str, kind=v1.EventKind.ACTIVITY, **kw) -> v1.Event:  # type: ignore[no-untyped-def]
    payload = kw.pop("payload", {"sensor": "pir-1", "kind": "motion"})
    return v1.Event.create(
        household_id=household, gateway_id=gateway, kind=kind, payload=payload, **kw
    )


def _metric(server, name: str) -> float:  # type: ignore[no-untyped-def]
    text = httpx.get(f"{server.base_url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def _count_events(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(EventRecord))
    engine.dispose()
    return int(count or 0)


def _exercise(server) -> None:  # type: ignore[no-untyped-def]
    household, code = _setup(server)
    r = _enroll(server, code)
    assert r.status_code == 200, r.text
    enrolled = v1.EnrollResponse.model_validate(r.json())
    assert enrolled.household_id == household
    # One-time code: a replay is refused with a clear error.
    replay = _enroll(server, code)
    assert replay.status_code == 401 and replay.json()["error"] == "code_used"
    auth = {"Authorization": f"Bearer {enrolled.token}"}
    url = f"{server.base_url}/api/v1/gateway/events"
    gw = enrolled.gateway_id

    # A batch of 100 with duplicates: idempotent by event id.
    batch = [_event(household, gw) for _ in range(100)]
    body = {"events": [e.to_wire() for e in batch] + [batch[0].to_wire()]}
    first = v1.BatchResult.model_validate(httpx.post(url, json=body, headers=auth).json())
    assert len(first.accepted) == 100 and first.duplicates == [batch[0].id]
    again = v1.BatchResult.model_validate(httpx.post(url, json=body, headers=auth).json())
    assert again.accepted == [] and len(again.duplicates) == 101
    assert _count_events(server.database_url) == 100

    # One invalid event does not block the good ones beside it.
    good = _event(household, gw)
    mixed = {
        "events": [
            good.to_wire(),
            {**good.to_wire(), "id": v1.new_event_id(), "kind": "toaster.exploded"},
        ]
    }
    result = httpx.post(url, json=mixed, headers=auth).json()
    assert result["accepted"] == [good.id] and len(result["rejected"]) == 1
    assert "kind" in result["rejected"][0]["error"]

    # Another household's events: 403 for the whole batch, nothing stored.
    other = _event("someone-else", gw)
    r = httpx.post(
        url, json={"events": [_event(household, gw).to_wire(), other.to_wire()]}, headers=auth
    )
    assert r.status_code == 403 and r.json()["error"] == "wrong_household"
    # Wrong or missing token.
    r = httpx.post(url, json={"events": [good.to_wire()]}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert httpx.post(url, json={"events": [good.to_wire()]}).status_code == 401
    # Oversize: more than 500 events, or a body over the byte limit.
    big = {"events": [_event(household, gw).to_wire() for _ in range(501)]}
    r = httpx.post(url, json=big, headers=auth)
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    r = httpx.post(url, content=b"x" * 1_100_000, headers=auth)
    assert r.status_code == 413
    # Malformed JSON.
    r = httpx.post(url, content=b"{not json", headers={**auth, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "malformed_batch"
    # Clock-skewed gateway: occurred_at an hour in the future.
    future = _event(household, gw, occurred_at=datetime.now(UTC) + timedelta(hours=1))
    r = httpx.post(url, json={"events": [future.to_wire()]}, headers=auth)
    assert r.status_code == 200 and r.json()["rejected"][0]["reason"] == "clock_skew"
    assert _count_events(server.database_url) == 101

    assert _metric(server, 'mimamori_rejected_total{reason="wrong_household"}') == 1
    # 501 events (the route) and 1.1 MB (the body limit, before parsing): each counted once.
    oversize = _metric(server, 'mimamori_rejected_total{reason="oversize"}')
    assert oversize + _metric(server, 'mimamori_rejected_total{reason="body_too_large"}') == 2
    assert _metric(server, 'mimamori_rejected_total{reason="clock_skew"}') == 1
    assert _metric(server, 'mimamori_rejected_total{reason="invalid_event"}') == 1

    # Heartbeat and config with ETag.
    hb = httpx.post(
        f"{server.base_url}/api/v1/gateway/heartbeat",
        headers=auth,
        json={"software_version": "1.0", "uptime_s": 3, "outbox_depth": 0},
    )
    assert hb.status_code == 200
    beat = v1.HeartbeatResponse.model_validate(hb.json())
    cfg = httpx.get(f"{server.base_url}/api/v1/gateway/config", headers=auth)
    config = v1.GatewayConfig.model_validate(cfg.json())
    assert config.config_version == beat.config_version
    assert [s.time for s in config.slots] == ["08:00", "19:30"]
    assert config.timezone == "Asia/Tokyo"
    etag = cfg.headers["etag"]
    assert (
        httpx.get(
            f"{server.base_url}/api/v1/gateway/config", headers={**auth, "If-None-Match": etag}
        ).status_code
        == 304
    )
    bad = httpx.post(
        f"{server.base_url}/api/v1/gateway/heartbeat", headers=auth, json={"uptime_s": -1}
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_body"


def test_gateway_api_sqlite(cloud_server) -> None:
    _exercise(cloud_server)


@pytest.mark.postgres
def test_gateway_api_postgresql(start_cloud, postgres_url) -> None:
    _exercise(start_cloud(database_url=postgres_url, workers=2))


def test_concurrent_duplicate_batches_store_once(cloud_server) -> None:
    """The same batch posted on parallel connections (a retry racing the original)."""
    from concurrent.futures import ThreadPoolExecutor

    household, code = _setup(cloud_server)
    enrolled = v1.EnrollResponse.model_validate(_enroll(cloud_server, code).json())
    auth = {"Authorization": f"Bearer {enrolled.token}"}
    body = json.dumps(
        {"events": [_event(household, enrolled.gateway_id).to_wire() for _ in range(50)]}
    )
    url = f"{cloud_server.base_url}/api/v1/gateway/events"
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: httpx.post(
                    url, content=body, headers={**auth, "content-type": "application/json"}
                ).json(),
                range(8),
            )
        )
    assert sum(len(r["accepted"]) for r in results) == 50
    assert _count_events(cloud_server.database_url) == 50


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_psycopg_is_the_postgres_driver(postgres_url: str, scheme: str) -> None:
    """Any PostgreSQL URL an operator writes ends on psycopg 3 (psycopg2 is not installed, so
    SQLAlchemy's default for `postgresql://` would fail), and psycopg round-trips what the
    cloud stores: an aware timestamp (timestamptz, any zone in, same instant out) and JSONB
    with Japanese text."""
    assert importlib.util.find_spec("psycopg2") is None
    engine = make_engine(f"{scheme}://{postgres_url.split('://', 1)[1]}")
    at = datetime(2028, 2, 29, 8, 59, 59, 123456, tzinfo=ZoneInfo("Asia/Tokyo"))
    doc = {"slot": "朝", "answers": {"薬": True}, "confidence": 0.5}
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        with engine.connect() as conn:
            assert isinstance(conn.connection.dbapi_connection, psycopg.Connection)
            got_at, got_doc, kind = conn.execute(
                select(
                    literal(at, DateTime(timezone=True)),
                    literal(doc, JSONB),
                    func.pg_typeof(literal(at, DateTime(timezone=True))),
                )
            ).one()
    finally:
        engine.dispose()
    assert kind == "timestamp with time zone"
    assert got_at == at and got_at.utcoffset() is not None
    assert got_at.astimezone(UTC) == datetime(2028, 2, 28, 23, 59, 59, 123456, tzinfo=UTC)
    assert got_doc == doc
