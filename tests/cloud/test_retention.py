"""Retention: the worker deletes old heartbeats, events, finished mail and notifications of
long-resolved incidents, and removes transcripts early, in small batches at most once per
interval, while everything still needed stays. Real SQLite (and PostgreSQL), real HTTP
ingest, real SMTP; time travel by the injected clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select

from cloud.core.config import Settings
from cloud.db import transaction
from cloud.models import (
    Checkin,
    EventRecord,
    Gateway,
    HeartbeatRecord,
    Incident,
    Notification,
    OutboxMail,
)
from cloud.services.retention import (
    KEPT_WITH_BROADCAST,
    PRUNABLE_EVENT_KINDS,
    RetentionCounts,
    RetentionPolicy,
    RetentionPruner,
    notification_expired,
    prune,
    without_speech,
)
from mimamori_wire import v1

NOW = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
INTERVAL = timedelta(minutes=15)  # the default retention_every_s


def _counted(rule: str) -> float:
    return REGISTRY.get_sample_value("mimamori_retention_rows_total", {"rule": rule}) or 0.0


def _count(cloud, model: Any) -> int:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _ids(cloud, model: Any) -> set[Any]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return set(session.scalars(select(model.id)))


def _payloads(cloud) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return {e.id: e.payload for e in session.scalars(select(EventRecord))}


def _post(gw, kind: v1.EventKind, payload: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """One event through the real ingest API; -> its id."""
    made = gw.event(kind, payload)
    response = gw.post(made)
    assert response.status_code == 200, response.text
    return made.id


# --- pure decisions ---------------------------------------------------------------------------


def test_without_speech_drops_only_spoken_words() -> None:
    answer = {"slot": "morning", "intent": "fine", "transcript": "元気です", "answers": {}}
    assert without_speech("checkin.answered", answer) == {
        "slot": "morning",
        "intent": "fine",
        "answers": {},
    }
    trouble = {"text": "電球が切れました", "category": "home"}
    assert without_speech("request.trouble", trouble) == {"category": "home"}
    # "text" is speech only in a trouble request.
    assert without_speech("command.done", {"detail": "x", "text": "ok"}) == {
        "detail": "x",
        "text": "ok",
    }
    assert without_speech("activity", {"sensor": "s1"}) == {"sensor": "s1"}


def test_notification_expires_only_with_a_long_resolved_incident() -> None:
    assert notification_expired("resolved", NOW - 2 * DAY, NOW - DAY)
    assert not notification_expired("resolved", NOW, NOW - DAY)
    assert not notification_expired("open", None, NOW)
    assert not notification_expired("acknowledged", None, NOW)
    assert not notification_expired("resolved", None, NOW)


def test_policy_defaults_and_rule_order() -> None:
    policy = RetentionPolicy.from_settings(Settings())
    assert policy == RetentionPolicy(
        heartbeats=30 * DAY,
        events=400 * DAY,
        transcripts=90 * DAY,
        mail=90 * DAY,
        notifications=400 * DAY,
    )
    cutoffs = policy.cutoffs(NOW)
    assert list(cutoffs) == ["heartbeats", "events", "transcripts", "mail", "notifications"]
    assert cutoffs["events"] == NOW - 400 * DAY
    # The dashboard's household page looks back 30 days: shorter spans are refused.
    with pytest.raises(ValueError):
        Settings(event_retention_days=20)
    # Every wire kind is either pruned or kept with its broadcast.
    assert set(PRUNABLE_EVENT_KINDS) | KEPT_WITH_BROADCAST == {k.value for k in v1.EventKind}
    assert not set(PRUNABLE_EVENT_KINDS) & KEPT_WITH_BROADCAST


def test_counts_describe_every_rule() -> None:
    assert not RetentionCounts()
    counts = RetentionCounts(events=2, transcripts=1)
    assert counts
    assert str(counts) == (
        "heartbeats_pruned=0 events_pruned=2 transcripts_blanked=1 mail_pruned=0 "
        "notifications_pruned=0"
    )


# --- heartbeats -------------------------------------------------------------------------------


def _add_heartbeats(cloud, gateway_id: str, ages_days: list[float]) -> None:  # type: ignore[no-untyped-def]
    with transaction(cloud.sessions) as session:
        for age in ages_days:
            session.add(
                HeartbeatRecord(
                    gateway_id=gateway_id,
                    received_at=NOW - timedelta(days=age),
                    body={"software_version": "test"},
                )
            )


def _received(cloud) -> list[datetime]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return list(
            session.scalars(select(HeartbeatRecord.received_at).order_by(HeartbeatRecord.id))
        )


def test_worker_prunes_old_heartbeats_and_keeps_the_latest_state(live_cloud_factory) -> None:
    cloud = live_cloud_factory(heartbeat_retention_days=30, retention_every_s=600)
    hh = cloud.household()
    gw = cloud.enroll(hh["id"])
    for age in (45, 31, 29, 1):  # real heartbeats over HTTP, travelling forward in time
        cloud.travel(NOW - timedelta(days=age))
        gw.heartbeat()
    cloud.travel(NOW)
    summary = cloud.run_worker()
    assert summary.retention.heartbeats == 2
    assert "heartbeats_pruned=2" in summary.describe()
    assert _received(cloud) == [NOW - timedelta(days=29), NOW - timedelta(days=1)]
    with cloud.sessions() as session:
        gateway = session.get_one(Gateway, gw.gateway_id)
        assert gateway.last_heartbeat_at == NOW - timedelta(days=1)
        assert gateway.last_heartbeat and gateway.last_heartbeat["software_version"]

    # At most once per interval: an old row arriving meanwhile waits for the next slot.
    _add_heartbeats(cloud, gw.gateway_id, [40])
    cloud.travel(NOW + timedelta(minutes=5))
    assert cloud.run_worker().retention.heartbeats == 0
    cloud.travel(NOW + timedelta(minutes=10))
    assert cloud.run_worker().retention.heartbeats == 1
    # Time alone ages rows out: a day later the 29-day-old row is past the 30 days.
    cloud.travel(NOW + timedelta(days=1, minutes=30))
    assert cloud.run_worker().retention.heartbeats == 1
    assert _received(cloud) == [NOW - timedelta(days=1)]


def test_heartbeat_prune_goes_in_small_batches_and_stops_at_kept_rows(live_cloud) -> None:
    hh = live_cloud.household()
    gw = live_cloud.enroll(hh["id"])
    _add_heartbeats(live_cloud, gw.gateway_id, [60 - i for i in range(10)] + [2, 1])
    cutoff = NOW - timedelta(days=30)
    before = _counted("heartbeats")
    # A capped pass deletes only its batches; the next one continues where it stopped.
    assert prune(live_cloud.sessions, "heartbeats", cutoff, batch=3, max_batches=2) == 6
    assert prune(live_cloud.sessions, "heartbeats", cutoff, batch=3, max_batches=50) == 4
    assert prune(live_cloud.sessions, "heartbeats", cutoff, batch=3) == 0
    assert _count(live_cloud, HeartbeatRecord) == 2
    assert _counted("heartbeats") - before == 10


# --- events and transcripts -------------------------------------------------------------------


def _events_and_transcripts(cloud) -> None:  # type: ignore[no-untyped-def]
    """Events age out after 400 days and lose their transcripts after 90, except what the
    dashboard still reads (safety-check answers) and the source of an open incident."""
    hh = cloud.household(slots=["08:00"])
    gw = cloud.enroll(hh["id"])
    t0 = cloud.clock()
    answered = {"slot": "morning", "intent": "fine", "confidence": 0.9, "attempts": 1}
    ids = {
        "answer": _post(gw, v1.EventKind.CHECKIN_ANSWERED, {**answered, "transcript": "元気です"}),
        "summary": _post(
            gw,
            v1.EventKind.ACTIVITY_SUMMARY,
            {"hour_start": t0.isoformat(), "counts": {"居間": 3}},
        ),
        "trouble": _post(gw, v1.EventKind.REQUEST_TROUBLE, {"text": "電球が切れました"}),
        "safety": _post(
            gw,
            v1.EventKind.SAFETY_CHECK_ANSWERED,
            {"check_id": "check-1", "status": "safe", "transcript": "大丈夫です"},
        ),
        "help": _post(gw, v1.EventKind.HELP_REQUESTED, {"source": "voice", "transcript": "助けて"}),
    }
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert (incident["cause"], incident["state"]) == ("help_requested", "open")
    before = {rule: _counted(rule) for rule in ("events", "transcripts")}

    cloud.travel(t0 + 89 * DAY)
    assert cloud.worker.prune() == RetentionCounts()
    assert _payloads(cloud)[ids["answer"]]["transcript"] == "元気です"

    cloud.travel(t0 + 91 * DAY)
    assert cloud.worker.prune() == RetentionCounts(transcripts=4)
    payloads = _payloads(cloud)
    assert set(payloads) == set(ids.values())  # every event is still there
    assert payloads[ids["answer"]] == without_speech("checkin.answered", payloads[ids["answer"]])
    assert payloads[ids["answer"]]["intent"] == "fine"
    assert "text" not in payloads[ids["trouble"]]
    assert payloads[ids["safety"]]["status"] == "safe"
    assert "transcript" not in payloads[ids["safety"]]
    assert "transcript" not in payloads[ids["help"]]
    assert payloads[ids["summary"]]["counts"] == {"居間": 3}
    cloud.travel(t0 + 91 * DAY + INTERVAL)
    assert cloud.worker.prune() == RetentionCounts()  # nothing left to blank

    cloud.travel(t0 + 401 * DAY)
    assert cloud.worker.prune().events == 3
    # Kept: the safety-check answer (its check's page reads it) and the open incident's
    # source. The check-in it produced stays for the monthly report.
    assert set(_payloads(cloud)) == {ids["safety"], ids["help"]}
    assert _count(cloud, Checkin) == 1

    cloud.admin_ok("POST", f"/incidents/{incident['id']}/resolve", json={"outcome": "safe"})
    cloud.travel(t0 + 401 * DAY + INTERVAL)
    assert cloud.worker.prune().events == 1
    cloud.travel(t0 + 401 * DAY + 2 * INTERVAL)
    assert cloud.worker.prune() == RetentionCounts()
    assert set(_payloads(cloud)) == {ids["safety"]}
    assert _counted("events") - before["events"] == 4
    assert _counted("transcripts") - before["transcripts"] == 4


def test_events_age_out_and_transcripts_go_first(live_cloud) -> None:
    _events_and_transcripts(live_cloud)


@pytest.mark.postgres
def test_events_age_out_and_transcripts_go_first_postgresql(
    live_cloud_factory, postgres_url: str
) -> None:
    _events_and_transcripts(live_cloud_factory(database_url=postgres_url))


# --- mail and notifications -------------------------------------------------------------------


def _mail_of(cloud) -> dict[str | None, set[str]]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        by_incident: dict[str | None, set[str]] = {}
        for mail in session.scalars(select(OutboxMail)):
            by_incident.setdefault(mail.incident_id, set()).add(mail.id)
        return by_incident


def _notifications_of(cloud, incident_id: str) -> int:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.incident_id == incident_id)
            )
            or 0
        )


def _queued_mail(cloud, status: str, created_at: datetime, retry_at: datetime) -> str:  # type: ignore[no-untyped-def]
    with transaction(cloud.sessions) as session:
        mail = OutboxMail(
            to_addr="family0@example.jp",
            subject="テスト",
            text_body="本文",
            kind="test",
            status=status,
            attempts=3,
            next_attempt_at=retry_at,
            created_at=created_at,
        )
        session.add(mail)
        session.flush()
        return mail.id


def _mail_and_notifications(cloud, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """Sent mail goes after 90 days and notifications 400 days after their incident was
    resolved; an incident still being handled keeps both, and pending mail is never touched."""
    t0 = cloud.clock()
    hh_open = cloud.household()
    hh_done = cloud.household()
    gw_open = cloud.enroll(hh_open["id"])
    gw_done = cloud.enroll(hh_done["id"])
    _post(gw_open, v1.EventKind.HELP_REQUESTED, {"source": "button"})
    _post(gw_done, v1.EventKind.REQUEST_CALLBACK, {})
    [still_open] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh_open["id"]})
    [done] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh_done["id"]})
    cloud.run_worker()  # the first steps of both: notifications and real mail
    # Staff are on it (acknowledged is still open: no reminders, nothing pruned) ...
    cloud.admin_ok("POST", f"/incidents/{still_open['id']}/acknowledge", json={"by": "staff"})
    # ... and the call-back was made.
    cloud.admin_ok("POST", f"/incidents/{done['id']}/resolve", json={"outcome": "safe"})
    cloud.run_worker()
    smtp_sink.wait_for(3, timeout=10)
    # A mail that keeps failing (still pending, next retry ahead) and one that gave up.
    retrying = _queued_mail(cloud, "pending", t0, t0 + 1000 * DAY)
    gave_up = _queued_mail(cloud, "failed", t0, t0)
    mail = _mail_of(cloud)
    assert mail[still_open["id"]] and mail[done["id"]]
    kept_notifications = _notifications_of(cloud, still_open["id"])
    done_notifications = _notifications_of(cloud, done["id"])
    assert kept_notifications >= 2 and done_notifications >= 2
    before = {rule: _counted(rule) for rule in ("mail", "notifications")}

    cloud.travel(t0 + 91 * DAY)
    counts = cloud.worker.prune()
    assert counts.mail == len(mail[done["id"]]) + 1
    assert counts.notifications == 0
    assert _mail_of(cloud) == {still_open["id"]: mail[still_open["id"]], None: {retrying}}
    assert gave_up not in _ids(cloud, OutboxMail)

    # Notifications go 400 days after the resolution, not after they were written.
    # (worker.prune, not a whole worker pass: after a year of time travel the pass would
    # first catch up on a year of missed check-ins.)
    cloud.travel(t0 + 401 * DAY)
    assert cloud.worker.prune().notifications == done_notifications
    assert _notifications_of(cloud, done["id"]) == 0
    assert _notifications_of(cloud, still_open["id"]) == kept_notifications
    assert _mail_of(cloud)[still_open["id"]] == mail[still_open["id"]]
    assert retrying in _ids(cloud, OutboxMail)
    with cloud.sessions() as session:
        assert session.get_one(Incident, done["id"]).state == "resolved"  # incidents stay

    cloud.travel(t0 + 401 * DAY + INTERVAL)
    again = cloud.worker.prune()
    assert (again.mail, again.notifications) == (0, 0)
    assert _counted("mail") - before["mail"] == len(mail[done["id"]]) + 1
    assert _counted("notifications") - before["notifications"] == done_notifications


def test_finished_mail_and_old_notifications_go_open_incidents_stay(
    live_cloud_factory, smtp_sink
) -> None:
    _mail_and_notifications(live_cloud_factory(smtp_port=smtp_sink.port), smtp_sink)


@pytest.mark.postgres
def test_finished_mail_and_old_notifications_go_postgresql(
    live_cloud_factory, smtp_sink, postgres_url: str
) -> None:
    cloud = live_cloud_factory(database_url=postgres_url, smtp_port=smtp_sink.port)
    _mail_and_notifications(cloud, smtp_sink)


# --- batches, throttle, index use -------------------------------------------------------------


def _old_rows(cloud, n: int) -> None:  # type: ignore[no-untyped-def]
    """n old rows for every rule but heartbeats, written directly."""
    hh = cloud.household()
    old = NOW - 1000 * DAY
    with transaction(cloud.sessions) as session:
        incident = Incident(
            household_id=hh["id"],
            cause="callback",
            state="resolved",
            opened_at=old,
            resolved_at=old,
            chain={},
        )
        session.add(incident)
        session.flush()
        for i in range(n):
            session.add(
                EventRecord(
                    id=f"old-{i}",
                    household_id=hh["id"],
                    gateway_id="gw",
                    kind="checkin.answered",
                    occurred_at=old,
                    recorded_at=old,
                    received_at=old,
                    payload={"intent": "fine", "transcript": "はい"},
                )
            )
            session.add(
                Notification(
                    incident_id=incident.id,
                    step=i,
                    action="staff",
                    recipient="office@example.jp",
                    channel="email",
                    created_at=old,
                )
            )
            session.add(
                OutboxMail(
                    to_addr="office@example.jp",
                    subject="s",
                    text_body="b",
                    kind="test",
                    incident_id=incident.id,
                    status="sent",
                    next_attempt_at=old,
                    created_at=old,
                )
            )


@pytest.mark.parametrize("rule", ["transcripts", "events", "mail", "notifications"])
def test_each_rule_goes_in_bounded_batches_and_a_second_pass_finds_nothing(
    live_cloud, rule: str
) -> None:
    _old_rows(live_cloud, 7)
    cutoff = NOW - 400 * DAY
    before = _counted(rule)
    assert prune(live_cloud.sessions, rule, cutoff, batch=3, max_batches=2) == 6
    assert prune(live_cloud.sessions, rule, cutoff, batch=3, max_batches=2) == 1
    assert prune(live_cloud.sessions, rule, cutoff, batch=3, max_batches=2) == 0
    assert _counted(rule) - before == 7


def test_pruner_throttle_follows_the_injected_clock(live_cloud) -> None:
    policy = RetentionPolicy.from_settings(Settings())
    pruner = RetentionPruner(policy, every=INTERVAL, batch=3, max_batches=1)
    _old_rows(live_cloud, 4)
    # Events go before their transcripts are blanked: the one old event left over by the
    # bounded events rule still loses its transcript in the same pass.
    assert pruner.run(live_cloud.sessions, NOW) == RetentionCounts(
        events=3, transcripts=1, mail=3, notifications=3
    )
    assert pruner.run(live_cloud.sessions, NOW + INTERVAL - timedelta(seconds=1)) == (
        RetentionCounts()
    )
    assert pruner.run(live_cloud.sessions, NOW + INTERVAL) == RetentionCounts(
        events=1, mail=1, notifications=1
    )


def _capture_selects(engine) -> list[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def _index_use(cloud, explain: str, full_scan: str, setup: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Every retention query reads events and mail through an index, and only the unresolved
    incidents (a partial index), never a whole table."""
    _old_rows(cloud, 2)
    seen = _capture_selects(cloud.worker.engine)
    for rule in ("transcripts", "events", "mail"):
        seen.clear()
        assert prune(cloud.sessions, rule, NOW) == 2
        with cloud.worker.engine.connect() as conn:
            if setup:
                conn.exec_driver_sql(setup)  # tiny tables: make the planner show a usable index
            for statement, parameters in seen:
                plan = "\n".join(
                    " ".join(str(c) for c in row)
                    for row in conn.exec_driver_sql(explain + statement, parameters)
                )
                assert not re.search(full_scan, plan, re.MULTILINE), (rule, statement, plan)
                assert "ix_" in plan, (rule, plan)


def test_retention_queries_use_indexes_sqlite(live_cloud) -> None:
    _index_use(live_cloud, "EXPLAIN QUERY PLAN ", r"SCAN (events|mail_outbox)\b|SCAN incidents$")


@pytest.mark.postgres
def test_retention_queries_use_indexes_postgresql(live_cloud_factory, postgres_url: str) -> None:
    cloud = live_cloud_factory(database_url=postgres_url)
    full_scan = r"Seq Scan on (events|mail_outbox|incidents)\b"
    _index_use(cloud, "EXPLAIN ", full_scan, setup="SET enable_seqscan = off")
