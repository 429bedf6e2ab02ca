"""The gateway request path made cheaper (issue 18, docs/benchmarks.md "API cost per
request") without changing what it answers: a valid heartbeat or an event batch answered
below FastAPI gives what the FastAPI route gives (status, body, stored rows, counters),
anything else is still the route's answer; a pooled database connection that died is
replaced or retried, not a 500."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from cloud.api import fast_path
from cloud.api.fast_path import GatewayFastPath, handler_for, is_json_content_type
from cloud.api.hardening import HardeningMiddleware, deeper_than, json_depth
from cloud.api.routes import gateway as gateway_routes
from cloud.app import create_app
from cloud.core import metrics
from cloud.db import make_engine
from cloud.models import EventRecord
from cloud.services.errors import ApiError
from cloud.services.tenancy import Invalid, NotFound
from mimamori_wire import v1
from tests.cloud.conftest import kill_other_connections

HEARTBEAT = "/api/v1/gateway/heartbeat"

texts = st.text(max_size=70) | st.sampled_from(["1.0", "", "a\x00b", "x" * 65])
numbers = st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=3) | st.none()
devices = st.lists(
    st.fixed_dictionaries(
        {"device": texts | st.integers()},
        optional={"battery_pct": numbers, "role": texts, "silent": st.booleans() | texts},
    ),
    max_size=3,
)
heartbeat_objects = st.fixed_dictionaries(
    {},
    optional={
        "software_version": texts,
        "uptime_s": numbers,
        "outbox_depth": numbers,
        "devices": devices | texts,
        "extra_field": numbers | texts,
    },
)
bodies = (
    heartbeat_objects.map(lambda body: json.dumps(body).encode())  # NaN too: json.dumps allows
    | heartbeat_objects.map(lambda body: json.dumps(body, ensure_ascii=False).encode("utf-16"))
    | st.binary(max_size=40)
    | st.sampled_from([b"", b"[]", b"null", b'{"software_version": "1", "uptime_s": 1'])
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.mimamori+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
)


@pytest.fixture
def two_apps(live_cloud):  # type: ignore[no-untyped-def]
    """The app as served, and the same app without the fast path (every heartbeat through
    FastAPI, as before), on one database and one clock; plus an enrolled gateway's token."""
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    fast = create_app(live_cloud.settings, clock=live_cloud.clock)
    reference = create_app(live_cloud.settings, clock=live_cloud.clock)
    reference.user_middleware = [
        m for m in reference.user_middleware if m.cls is not GatewayFastPath
    ]
    assert len(reference.user_middleware) == len(fast.user_middleware) - 1
    yield TestClient(fast), TestClient(reference), gateway.token
    for app in (fast, reference):
        app.state.mimamori.engine.dispose()


@given(body=bodies, content_type=content_types, token_ok=st.booleans())
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_heartbeat_gets_the_answer_the_fastapi_route_gives(
    two_apps, body: bytes, content_type: str, token_ok: bool
) -> None:
    fast, reference, token = two_apps
    headers = {"Authorization": f"Bearer {token if token_ok else 'not-a-token'}"}
    if content_type:
        headers["Content-Type"] = content_type
    got, expected = (
        client.post(HEARTBEAT, content=body, headers=headers) for client in (fast, reference)
    )
    assert got.status_code == expected.status_code, (got.text, expected.text)
    assert got.json() == expected.json()
    assert got.headers["content-type"] == expected.headers["content-type"]
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert got.headers[name] == expected.headers[name]
    if got.status_code == 200:
        v1.HeartbeatResponse.model_validate_json(got.content)  # the contract still holds


def test_the_json_content_types_are_fastapis() -> None:
    assert is_json_content_type("application/json")
    assert is_json_content_type("application/JSON; charset=utf-8")
    assert is_json_content_type("application/problem+json")
    assert not is_json_content_type("text/json")
    assert not is_json_content_type("application/jsonp")


@pytest.mark.postgres
def test_dead_pooled_connections_are_retried_not_a_500(live_cloud_factory, postgres_url) -> None:
    """PostgreSQL went away under the pool's feet (connections in steady use are not pinged):
    the next heartbeat and event batch still answer 200 and the batch is stored."""
    cloud = live_cloud_factory(database_url=postgres_url)
    gateway = cloud.enroll(cloud.household()["id"])
    for _ in range(3):  # the API's pool now holds connections that were just in use
        gateway.heartbeat()
        assert gateway.answer("08:00").status_code == 200
    assert kill_other_connections(postgres_url) >= 1
    assert gateway.heartbeat().config_version >= 1
    assert kill_other_connections(postgres_url) >= 1
    event = gateway.event(
        v1.EventKind.CHECKIN_ANSWERED,
        v1.CheckinAnswered(slot="08:00", intent=v1.Intent("fine"), confidence=0.9, attempts=1),
    )
    response = gateway.post(event)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == [event.id]
    with cloud.sessions() as session:
        assert session.get(EventRecord, event.id) is not None


@pytest.mark.postgres
def test_an_idle_pooled_connection_is_pinged_and_replaced(postgres_url) -> None:
    """Idle past the threshold: pinged at checkout and replaced if dead. In steady use: not
    pinged (the statement meets the dead connection, which the request path retries)."""
    for idle_after_s, survives in ((0.0, True), (3600.0, False)):
        engine = make_engine(postgres_url, pool_size=1, ping_idle_after_s=idle_after_s)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            kill_other_connections(postgres_url)
            try:
                with engine.connect() as conn:
                    assert conn.execute(text("SELECT 2")).scalar_one() == 2
                outcome = True
            except DBAPIError as exc:
                assert exc.connection_invalidated
                outcome = False
            assert outcome is survives, idle_after_s
        finally:
            engine.dispose()


def test_an_event_batch_answer_is_the_contracts_json(live_cloud) -> None:
    """The batch answer is sent as the model's own JSON (no second FastAPI validation)."""
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    event = gateway.event(v1.EventKind.GATEWAY_STARTED, v1.GatewayStarted(software_version="1"))
    raw = httpx.post(
        f"{live_cloud.base_url}/api/v1/gateway/events",
        content=json.dumps({"events": [event.to_wire(), {"id": "broken"}]}),
        headers={**gateway.headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    result = v1.BatchResult.model_validate_json(raw.content)
    assert result.accepted == [event.id] and len(result.rejected) == 1
    assert raw.json() == result.model_dump(mode="json")


nested = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a'), children, max_size=3)
    ),
    max_leaves=30,
)


@given(value=nested, limit=st.integers(0, 8))
def test_the_depth_limit_skips_only_bodies_that_cannot_exceed_it(value, limit: int) -> None:  # type: ignore[no-untyped-def]
    """The bracket-count shortcut refuses exactly what the full scan refuses."""
    raw = json.dumps(value, ensure_ascii=False).encode()
    depth = json_depth(raw)
    assert deeper_than(raw, limit) == (depth if depth > limit else None)


@pytest.mark.parametrize(
    "error",
    [ApiError(409, "already_resolved", "x"), Invalid("bad slot"), NotFound("no household")],
)
def test_an_error_on_the_fast_path_is_answered_by_the_apps_handlers(
    two_apps, monkeypatch, error: Exception
) -> None:  # type: ignore[no-untyped-def]
    """Whatever the heartbeat's work raises is answered as the route's handlers answer it;
    an exception no handler takes is the server's 500 on both paths."""
    fast, reference, token = two_apps
    raised: list[Exception] = [error]

    def failing(*_args: object) -> None:
        raise raised[0]

    monkeypatch.setattr(fast_path, "record_heartbeat", failing)
    monkeypatch.setattr(gateway_routes, "record_heartbeat", failing)
    body = v1.Heartbeat(software_version="1", uptime_s=1, outbox_depth=0).model_dump_json()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    got, expected = (c.post(HEARTBEAT, content=body, headers=headers) for c in (fast, reference))
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
    assert got.status_code in (404, 409, 422)
    raised[0] = RuntimeError("boom")
    for client in (fast, reference):  # the test client re-raises what the server did not take
        with pytest.raises(RuntimeError, match="boom"):
            client.post(HEARTBEAT, content=body, headers=headers)


def test_the_handler_is_the_nearest_in_the_exceptions_mro() -> None:
    class Special(Invalid):
        pass

    handlers = {Invalid: "invalid", LookupError: "lookup", Exception: "server"}
    assert handler_for(Special("x"), handlers) == "invalid"
    assert handler_for(NotFound("x"), handlers) == "lookup"
    assert handler_for(RuntimeError("x"), handlers) is None  # the 500 is not answered here


# --- event batches: the fast path and the route, each on its own copy of one database -----

EVENTS = "/api/v1/gateway/events"


@dataclass
class Twins:
    """The app as served on one database and the app without the fast path on an identical
    copy: the same request to each must leave both databases alike."""

    fast: TestClient
    reference: TestClient
    urls: tuple[str, str]
    tokens: dict[str, str]  # own, other (another household's gateway)
    ids: dict[str, tuple[str, str]]  # own/other -> (household id, gateway id)
    clock: Any


def _copy_database(url: str, name: str, tmp_path: Path) -> str:
    if url.startswith("sqlite"):
        copy = f"sqlite:///{tmp_path}/{name}.db"
        with (
            sqlite3.connect(url.removeprefix("sqlite:///")) as source,
            sqlite3.connect(copy.removeprefix("sqlite:///")) as target,
        ):
            source.backup(target)
        return copy
    kill_other_connections(url)  # a template database must have no other session
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{dsn.rsplit("/", 1)[1]}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def twins(request, live_cloud_factory, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        cloud = live_cloud_factory(database_url=cluster.create_database())
    else:
        cloud = live_cloud_factory()
    own = cloud.enroll(cloud.household()["id"])
    other = cloud.enroll(cloud.household()["id"])
    url = cloud.settings.database_url
    copy = _copy_database(url, f"twin_{uuid.uuid4().hex[:8]}", tmp_path)
    fast = create_app(cloud.settings, clock=cloud.clock)
    reference = create_app(cloud.settings.model_copy(update={"database_url": copy}), cloud.clock)
    reference.user_middleware = [
        m for m in reference.user_middleware if m.cls is not GatewayFastPath
    ]
    yield Twins(
        TestClient(fast),
        TestClient(reference),
        (url, copy),
        {"own": own.token, "other": other.token},
        {g: (c.household_id, c.gateway_id) for g, c in (("own", own), ("other", other))},
        cloud.clock,
    )
    for app in (fast, reference):
        app.state.mimamori.engine.dispose()


event_ids = st.sampled_from([str(uuid.UUID(int=n, version=4)) for n in range(1, 41)])
KIND_PAYLOADS = {
    v1.EventKind.ACTIVITY_SUMMARY: st.just({"hour_start": "2026-11-27T00:00:00+00:00"}).map(
        lambda p: {**p, "counts": {"居間": 3}}
    ),
    v1.EventKind.CHECKIN_ANSWERED: st.fixed_dictionaries(
        {
            "slot": st.sampled_from(["08:00", "morning", "19:00"]),
            "intent": st.sampled_from(["fine", "unwell"]),
            "confidence": st.floats(0, 1),
            "attempts": st.just(1),
        },
        optional={"slot_date": st.sampled_from(["2026-11-27", "2026-11-28", "27 Nov"])},
    ),
    v1.EventKind.CHECKIN_NO_RESPONSE: st.fixed_dictionaries(
        {"slot": st.sampled_from(["08:00", "19:00"]), "attempts": st.just(3)}
    ),
    v1.EventKind.HELP_REQUESTED: st.just({"source": "button"}),
    v1.EventKind.DEVICE_SILENT: st.just({"device": "pir-1"}),
}
# seconds from the clock: just before, an hour ahead (clock skew), years back (out of range)
offsets = st.sampled_from([-30, -3600, 3600, -(10**8)])


@st.composite
def event_dicts(draw: st.DrawFn, twins: Twins) -> Any:
    if draw(st.integers(0, 9)) == 0:  # a broken event, refused on its own
        return draw(st.sampled_from([{"id": "broken"}, [], "x", {"id": str(uuid.uuid4())}]))
    kind = draw(st.sampled_from(list(KIND_PAYLOADS)))
    household, gateway = twins.ids["other" if draw(st.integers(0, 11)) == 0 else "own"]
    when = twins.clock() + timedelta(seconds=draw(offsets))
    return {
        "id": draw(event_ids),
        "household_id": household,
        "gateway_id": gateway,
        "kind": kind.value,
        "occurred_at": when.isoformat(),
        "recorded_at": when.isoformat(),
        "payload": draw(KIND_PAYLOADS[kind]),
        "schema": 1,
    }


@st.composite
def batch_bodies(draw: st.DrawFn, twins: Twins) -> bytes:
    shape = draw(st.integers(0, 11))
    if shape == 0:
        return draw(st.binary(max_size=30) | st.sampled_from([b"", b"[]", b'{"events": []}']))
    events = draw(st.lists(event_dicts(twins), min_size=1, max_size=4))
    body: dict[str, Any] = {"events": events}
    if shape == 1:
        body["extra"] = 1
    if shape == 2:
        body["events"] = events * (v1.MAX_BATCH_EVENTS // len(events) + 1)
    if shape == 4 and isinstance(events[0], dict):  # a repeated id, another household's
        household, gateway = twins.ids["other"]
        events.append({**events[0], "household_id": household, "gateway_id": gateway})
    encoded = json.dumps(body, ensure_ascii=draw(st.booleans()))
    return encoded.encode("utf-16" if shape == 3 else "utf-8")


def _rows(url: str) -> dict[str, list]:
    """What a batch may change, without generated keys and timestamps."""
    queries = {
        "events": "SELECT id, household_id, gateway_id, kind, payload, occurred_at FROM events",
        "checkins": "SELECT household_id, slot_date, slot, status, intent, event_id FROM checkins",
        "incidents": "SELECT household_id, cause, state, slot, source_event_id FROM incidents",
    }
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted((tuple(map(str, row)) for row in conn.execute(text(sql))), key=str)
                for name, sql in queries.items()
            }
    finally:
        engine.dispose()


def _rejections() -> float:
    return sum(
        s.value for m in metrics.REJECTED.collect() for s in m.samples if s.name.endswith("_total")
    )


@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_an_event_batch_gets_the_answer_and_effects_the_fastapi_route_gives(
    twins: Twins, data: st.DataObject
) -> None:
    body = data.draw(batch_bodies(twins), label="body")
    token = data.draw(st.sampled_from(["own"] * 5 + ["other", "bad", "none"]), label="token")
    headers = {}
    if token in twins.tokens:
        headers["Authorization"] = f"Bearer {twins.tokens[token]}"
    elif token == "bad":
        headers["Authorization"] = "Bearer not-a-token"
    content_type = data.draw(content_types, label="content_type")
    if content_type:
        headers["Content-Type"] = content_type
    answers, counted = [], []
    for client in (twins.fast, twins.reference):
        before = _rejections()
        answers.append(client.post(EVENTS, content=body, headers=headers))
        counted.append(_rejections() - before)
    got, expected = answers
    assert got.status_code == expected.status_code, (got.text, expected.text)
    assert got.json() == expected.json()
    answer = got.json()
    outcome = [k for k in ("accepted", "duplicates", "rejected") if answer.get(k)]
    event(f"{got.status_code} {answer.get('error', outcome)}")  # what the examples reached
    assert got.headers["content-type"] == expected.headers["content-type"]
    assert counted[0] == counted[1]  # a refusal is counted alike
    if got.status_code >= 400:
        assert counted[0] >= 1 and got.json()["error"]
    fast_rows, reference_rows = (_rows(url) for url in twins.urls)
    assert fast_rows == reference_rows


@pytest.mark.parametrize(
    "error",
    [ApiError(409, "already_resolved", "x"), Invalid("bad slot"), NotFound("no household")],
)
def test_an_error_on_the_batch_fast_path_is_answered_by_the_apps_handlers(
    two_apps, monkeypatch, error: Exception
) -> None:  # type: ignore[no-untyped-def]
    fast, reference, token = two_apps
    raised: list[Exception] = [error]

    def failing(*_args: object) -> None:
        raise raised[0]

    monkeypatch.setattr(fast_path, "answer_batch", failing)
    monkeypatch.setattr(gateway_routes, "answer_batch", failing)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    got, expected = (c.post(EVENTS, content=b"{}", headers=headers) for c in (fast, reference))
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
    assert got.status_code in (404, 409, 422)
    raised[0] = RuntimeError("boom")
    for client in (fast, reference):
        with pytest.raises(RuntimeError, match="boom"):
            client.post(EVENTS, content=b"{}", headers=headers)


def test_an_oversized_batch_is_refused_alike(two_apps) -> None:  # type: ignore[no-untyped-def]
    """Past the byte limit, without the hardening layer (which refuses it first when
    served): the route's and the fast path's own checks give the same 413."""
    fast, reference, token = two_apps
    for client in (fast, reference):
        client.app.user_middleware = [
            m for m in client.app.user_middleware if m.cls is not HardeningMiddleware
        ]
    limit = fast.app.state.mimamori.settings.max_body_bytes
    body = b" " * (limit + 1)
    headers = {"Authorization": f"Bearer {token}"}
    got, expected = (c.post(EVENTS, content=body, headers=headers) for c in (fast, reference))
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
    assert got.status_code == 413
