"""Issue 13 findings 1, 2, 3, 7: one bad event never fails the batch it travels in.

Each poisoned event is refused on its own (listed in `rejected` with a reason code), the
help request beside it is stored and opens an incident, the response is 200 and never 413
or 5xx; a database error on one row is isolated by savepoints; an event id reused by
another gateway never swallows a help request. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, select, text

from cloud.core.logging import FIELDS_ATTR
from cloud.models import EventRecord, Incident
from mimamori_wire import v1

from .conftest import GatewayClient, LiveCloud

HELP = v1.HelpRequested(source=v1.AnswerSource.BUTTON)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cloud(
    request: pytest.FixtureRequest, live_cloud_factory: Callable[..., LiveCloud]
) -> LiveCloud:
    if request.param == "postgresql":
        return live_cloud_factory(database_url=request.getfixturevalue("postgres_url"))
    return live_cloud_factory()


def _gateway(cloud: LiveCloud) -> GatewayClient:
    household = cloud.household()
    return cloud.enroll(household["id"])


def _post_raw(gw: GatewayClient, events: list[dict[str, Any]]) -> httpx.Response:
    # json.dumps writes NaN/Infinity tokens and lone surrogates as a hostile client would.
    body = json.dumps({"events": events})
    return httpx.post(
        f"{gw.base_url}/api/v1/gateway/events",
        content=body.encode(),
        headers={**gw.headers, "content-type": "application/json"},
        timeout=30,
    )


def _help_incidents(cloud: LiveCloud, household_id: str) -> list[Incident]:
    with cloud.sessions() as session:
        return list(
            session.scalars(
                select(Incident).where(
                    Incident.household_id == household_id, Incident.cause == "help_requested"
                )
            )
        )


def _stored_ids(cloud: LiveCloud) -> set[str]:
    with cloud.sessions() as session:
        return set(session.scalars(select(EventRecord.id)))


def _poisoned(gw: GatewayClient, now: Any) -> dict[str, tuple[dict[str, Any], str]]:
    """Events the issue reproduced (and their relatives) -> (wire body, expected reason)."""

    def wire(kind: v1.EventKind, payload: dict[str, Any], **envelope: Any) -> dict[str, Any]:
        body = {
            "id": v1.new_event_id(),
            "household_id": gw.household_id,
            "gateway_id": gw.gateway_id,
            "kind": kind.value,
            "occurred_at": now.isoformat(),
            "recorded_at": now.isoformat(),
            "payload": payload,
            "schema": 1,
        }
        body.update(envelope)
        return body

    env = {"sensor": "env-1", "condition": "heat", "duration_s": 60}
    activity = {"sensor": "pir-1", "kind": "motion"}
    skew = {"source": "cloud_date"}
    return {
        "nan_temperature": (
            wire(v1.EventKind.ENVIRONMENT_ALERT, {**env, "temperature_c": float("nan")}),
            "non_finite",
        ),
        "inf_skew": (
            wire(v1.EventKind.GATEWAY_CLOCK_SKEW, {**skew, "skew_s": float("inf")}),
            "non_finite",
        ),
        "nan_in_extra_field": (
            wire(v1.EventKind.ACTIVITY, {**activity, "extra": [1.0, float("-inf")]}),
            "non_finite",
        ),
        "nul_transcript": (
            wire(v1.EventKind.REQUEST_CALLBACK, {"transcript": "でんわ\u0000ください"}),
            "control_character",
        ),
        "nul_sensor": (
            wire(v1.EventKind.ACTIVITY, {**activity, "sensor": "pir\u0000"}),
            "control_character",
        ),
        "escape_in_room": (
            wire(v1.EventKind.ACTIVITY, {**activity, "room": "居間\u001b[2J"}),
            "control_character",
        ),
        "lone_surrogate": (
            wire(v1.EventKind.ACTIVITY, {**activity, "room": "\ud800"}),
            "control_character",
        ),
        "year_one": (
            wire(v1.EventKind.ACTIVITY, activity, occurred_at="0001-01-01T00:00:00+09:00"),
            "time_out_of_range",
        ),
        "year_9999": (
            wire(v1.EventKind.ACTIVITY, activity, occurred_at="9999-12-31T23:59:59-09:00"),
            "time_out_of_range",
        ),
        "before_2020": (
            wire(v1.EventKind.ACTIVITY, activity, occurred_at="2019-12-31T23:59:59+00:00"),
            "time_out_of_range",
        ),
        "recorded_next_week": (
            wire(
                v1.EventKind.ACTIVITY,
                activity,
                recorded_at=(now + timedelta(days=7)).isoformat(),
            ),
            "time_out_of_range",
        ),
        "huge_text": (
            wire(v1.EventKind.ACTIVITY, {**activity, "note": "あ" * 50_000}),
            "too_large",
        ),
        "huge_integer": (
            wire(v1.EventKind.ENVIRONMENT_ALERT, {**env, "duration_s": 10**30}),
            "too_large",
        ),
        "deep_nesting": (
            wire(v1.EventKind.ACTIVITY, {**activity, "deep": _nest(20)}),
            "too_deep",
        ),
        "unknown_kind": (
            wire(v1.EventKind.ACTIVITY, activity) | {"kind": "toaster"},
            "invalid_event",
        ),
    }


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_poisoned_events_are_refused_one_by_one_and_help_is_stored(cloud: LiveCloud) -> None:
    gw = _gateway(cloud)
    now = cloud.clock()
    poisoned = _poisoned(gw, now)
    help_event = gw.event(v1.EventKind.HELP_REQUESTED, HELP)
    fine = gw.event(v1.EventKind.ACTIVITY, {"sensor": "pir-1", "kind": "motion", "note": "a\tb\n"})
    bodies = [body for body, _ in poisoned.values()]
    r = _post_raw(gw, [*bodies[:7], help_event.to_wire(), *bodies[7:], fine.to_wire()])

    assert r.status_code == 200, r.text
    result = v1.BatchResult.model_validate(r.json())
    assert sorted(result.accepted) == sorted([help_event.id, fine.id])
    reasons = {rejected.id: rejected.reason for rejected in result.rejected}
    assert reasons == {body["id"]: reason for body, reason in poisoned.values()}, reasons
    assert all(rejected.error for rejected in result.rejected)
    assert _stored_ids(cloud) == {help_event.id, fine.id}
    assert len(_help_incidents(cloud, gw.household_id)) == 1


def test_an_event_alone_with_a_bad_date_answers_200_not_413(cloud: LiveCloud) -> None:
    """Finding 3: the gateway shrank its batch to this one event and retried it for ever."""
    gw = _gateway(cloud)
    body, _ = _poisoned(gw, cloud.clock())["year_one"]
    r = _post_raw(gw, [body])
    assert r.status_code == 200, r.text
    assert r.json()["rejected"][0]["reason"] == "time_out_of_range"


def test_clock_skewed_event_is_refused_alone_as_retryable(cloud: LiveCloud) -> None:
    gw = _gateway(cloud)
    ahead = gw.event(
        v1.EventKind.ACTIVITY,
        {"sensor": "pir-1", "kind": "motion"},
        occurred_at=cloud.clock() + timedelta(hours=1),
    )
    help_event = gw.event(v1.EventKind.HELP_REQUESTED, HELP)
    result = gw.send(ahead, help_event)
    assert result.accepted == [help_event.id]
    assert [(x.id, x.reason) for x in result.rejected] == [(ahead.id, "clock_skew")]
    assert "clock_skew" in v1.RETRYABLE_REJECT_REASONS


@pytest.mark.parametrize(
    "gateway_time",
    ["1970-01-01T09:00:00+09:00", "2099-01-01T00:00:00+00:00", "ahead_by_an_hour"],
)
def test_a_call_for_help_is_never_refused_for_its_gateways_clock(
    cloud: LiveCloud, gateway_time: str
) -> None:
    """A gateway whose clock is wrong (a dead RTC battery reads 1970) still gets its help,
    unwell answer and needs-help safety answer through at once: stored as arriving now and
    escalated, while an ordinary event with the same clock is refused."""
    gw = _gateway(cloud)
    now = cloud.clock()
    stamp = (
        (now + timedelta(hours=1)).isoformat()
        if gateway_time == "ahead_by_an_hour"
        else gateway_time
    )
    wire = lambda kind, payload: {  # noqa: E731
        "id": v1.new_event_id(),
        "household_id": gw.household_id,
        "gateway_id": gw.gateway_id,
        "kind": kind,
        "occurred_at": stamp,
        "recorded_at": stamp,
        "payload": payload,
        "schema": 1,
    }
    help_body = wire("help.requested", {"source": "button"})
    unwell = wire(
        "checkin.answered",
        {"slot": "morning", "intent": "unwell", "confidence": 0.9, "attempts": 1},
    )
    motion = wire("activity", {"sensor": "pir-1", "kind": "motion"})
    r = _post_raw(gw, [help_body, unwell, motion])
    assert r.status_code == 200, r.text
    result = v1.BatchResult.model_validate(r.json())
    assert sorted(result.accepted) == sorted([help_body["id"], unwell["id"]])
    assert [x.id for x in result.rejected] == [motion["id"]]
    assert len(_help_incidents(cloud, gw.household_id)) == 1
    with cloud.sessions() as session:
        stored = session.get(EventRecord, help_body["id"])
        assert stored is not None
        assert abs((stored.occurred_at - now).total_seconds()) < 60
        causes = set(
            session.scalars(select(Incident.cause).where(Incident.household_id == gw.household_id))
        )
    assert {"help_requested", "unwell"} <= causes


def _install_poison_trigger(cloud: LiveCloud) -> None:
    """A real database error on one row: the database itself refuses a marked payload."""
    engine = create_engine(
        cloud.settings.database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON events "
                    "WHEN NEW.payload LIKE '%poison-row%' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.payload::text LIKE '%poison-row%' THEN "
                    "RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON events "
                    "FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )
    engine.dispose()


def test_database_error_on_one_row_never_fails_the_batch(
    cloud: LiveCloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cloud")
    gw = _gateway(cloud)
    _install_poison_trigger(cloud)
    before = gw.event(v1.EventKind.ACTIVITY, {"sensor": "pir-1", "kind": "motion"})
    poison = gw.event(v1.EventKind.ACTIVITY, {"sensor": "poison-row", "kind": "motion"})
    help_event = gw.event(v1.EventKind.HELP_REQUESTED, HELP)
    r = gw.post_events([before, poison, help_event])
    assert r.status_code == 200, r.text
    result = v1.BatchResult.model_validate(r.json())
    assert sorted(result.accepted) == sorted([before.id, help_event.id])
    assert [(x.id, x.reason) for x in result.rejected] == [(poison.id, "storage_error")]
    assert _stored_ids(cloud) == {before.id, help_event.id}
    assert len(_help_incidents(cloud, gw.household_id)) == 1
    # Alone, too: a 200 naming it, never a 500.
    alone = gw.post_events([poison])
    assert alone.status_code == 200 and alone.json()["rejected"][0]["reason"] == "storage_error"
    # Each refusal is a log line naming the event, its home and why (with the traceback).
    logged = [(r, getattr(r, FIELDS_ATTR, {})) for r in caplog.records]
    errors = [(r, f) for r, f in logged if r.getMessage() == "ingest.storage_error"]
    assert [f["event_id"] for _, f in errors] == [poison.id, poison.id]
    assert all(r.levelno == logging.ERROR and r.exc_info for r, _ in errors)
    rejected = [f for r, f in logged if r.getMessage() == "ingest.rejected"]
    assert [(f["event_id"], f["reason"]) for f in rejected] == [(poison.id, "storage_error")] * 2
    assert {(f["gateway_id"], f["household_id"]) for f in rejected} == {
        (gw.gateway_id, gw.household_id)
    }
    assert [f["count"] for r, f in logged if r.getMessage() == "ingest.batch_failed"] == [3, 1]


def test_another_gateways_event_id_never_swallows_a_help_request(cloud: LiveCloud) -> None:
    """Finding 7: gateway B reuses an id gateway A already sent."""
    gw_a = _gateway(cloud)
    gw_b = _gateway(cloud)
    a_event = gw_a.event(v1.EventKind.ACTIVITY, {"sensor": "pir-1", "kind": "motion"})
    assert gw_a.send(a_event).accepted == [a_event.id]

    b_help = gw_b.event(v1.EventKind.HELP_REQUESTED, HELP).model_copy(update={"id": a_event.id})
    result = gw_b.send(b_help)
    assert result.accepted == [a_event.id] and result.duplicates == []
    incidents = _help_incidents(cloud, gw_b.household_id)
    assert len(incidents) == 1
    with cloud.sessions() as session:
        rows = session.execute(select(EventRecord.gateway_id, EventRecord.kind)).all()
    assert sorted(rows) == sorted(
        [(gw_a.gateway_id, "activity"), (gw_b.gateway_id, "help.requested")]
    )
    # Idempotent per gateway: each one's resend is its own duplicate, nothing more is stored.
    assert gw_b.send(b_help).duplicates == [a_event.id]
    assert gw_a.send(a_event).duplicates == [a_event.id]
    assert len(_stored_ids(cloud)) == 2
    assert len(_help_incidents(cloud, gw_b.household_id)) == 1


def _invalid_bodies() -> float:
    # The in-process cloud counts in this process's registry.
    return REGISTRY.get_sample_value("mimamori_rejected_total", {"reason": "invalid_body"}) or 0.0


BAD_HEARTBEAT_FIELDS = [
    ("bytes_written_per_event", "NaN"),
    ("uptime_s", "Infinity"),
    ("software_version", '"1.0\\u0000"'),
    ("ble_status", '"ok\\u0007"'),
    ("counters", '{"x": -Infinity}'),
]


def test_heartbeat_with_bad_text_or_number_is_a_clear_422(cloud: LiveCloud) -> None:
    gw = _gateway(cloud)
    base = {"software_version": "1.0", "uptime_s": 3, "outbox_depth": 0}
    for field, value in BAD_HEARTBEAT_FIELDS:
        counted = _invalid_bodies()
        rest = json.dumps({k: v for k, v in base.items() if k != field})
        r = httpx.post(
            f"{gw.base_url}/api/v1/gateway/heartbeat",
            content=f'{rest[:-1]}, "{field}": {value}}}'.encode(),
            headers={**gw.headers, "content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"] == "invalid_body"
        assert _invalid_bodies() == counted + 1
    good = httpx.post(
        f"{gw.base_url}/api/v1/gateway/heartbeat",
        json={**base, "quarantined_events": 2},
        headers=gw.headers,
        timeout=30,
    )
    assert good.status_code == 200, good.text


def test_enroll_with_a_nul_in_hardware_id_is_a_clear_422_and_keeps_the_code(
    cloud: LiveCloud,
) -> None:
    """Finding 2 (enroll): a NUL answered 500 on PostgreSQL."""
    household = cloud.household()
    code = cloud.admin_ok("POST", f"/households/{household['id']}/enrollment-codes")["code"]
    url = f"{cloud.base_url}/api/v1/gateway/enroll"
    body = {"enrollment_code": code, "hardware_id": "pi\u0000", "software_version": "1.0"}
    r = httpx.post(url, json=body, timeout=30)
    assert r.status_code == 422 and r.json()["error"] == "invalid_body", r.text
    r = httpx.post(url, json={**body, "hardware_id": "pi-1"}, timeout=30)
    assert r.status_code == 200, r.text  # the code was not used up by the refused attempt
