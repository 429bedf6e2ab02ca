"""Gateway API logic: enroll, authenticate, ingest events, heartbeat, config (no HTTP here)."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, bindparam, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from cloud.core import metrics
from cloud.core.logging import log_event
from cloud.db import session_clock, transaction
from cloud.escalation.state import SLOT_CAUSES
from cloud.models import (
    Checkin,
    Command,
    EnrollmentCode,
    EventRecord,
    Gateway,
    HeartbeatRecord,
    Household,
    Incident,
    ScheduleSlot,
)
from cloud.models.staff import IncidentNote
from cloud.schedule import SlotSpec, local_date_of, slot_for_answer
from cloud.services import incidents
from cloud.services.errors import ApiError
from cloud.services.ports import FollowUps
from cloud.services.tenancy import hash_secret, normalise_code
from mimamori_rules.outcomes import immediate_cause
from mimamori_wire import v1

log = logging.getLogger(__name__)


def enroll(session: Session, request: v1.EnrollRequest, now: datetime) -> v1.EnrollResponse:
    code = session.scalar(
        select(EnrollmentCode).where(
            EnrollmentCode.code_hash == hash_secret(normalise_code(request.enrollment_code))
        )
    )
    if code is None:
        raise _reject(401, "invalid_code", "This enrollment code is not known.")
    if code.used_at is not None:
        raise _reject(401, "code_used", "This enrollment code has already been used.")
    if code.expires_at <= now:
        raise _reject(401, "code_expired", "This enrollment code has expired; ask for a new one.")
    token = secrets.token_urlsafe(32)
    gateway = Gateway(
        household_id=code.household_id,
        token_hash=hash_secret(token),
        hardware_id=request.hardware_id,
        software_version=request.software_version,
        enrolled_at=now,
    )
    session.add(gateway)
    session.flush()
    # Compare-and-set: of two gateways racing with one code, exactly one wins.
    claimed = session.execute(
        update(EnrollmentCode)
        .where(EnrollmentCode.id == code.id, EnrollmentCode.used_at.is_(None))
        .values(used_at=now, gateway_id=gateway.id)
    )
    if claimed.rowcount != 1:
        raise _reject(401, "code_used", "This enrollment code has already been used.")
    household = session.get_one(Household, code.household_id)
    return v1.EnrollResponse(
        gateway_id=gateway.id,
        household_id=household.id,
        token=token,
        config_version=household.config_version,
    )


INVALID_TOKEN = "This gateway token is not valid (revoked or wrong)."


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise _reject(401, "missing_token", "Send Authorization: Bearer <gateway token>.")
    return authorization[7:].strip()


def authenticate(session: Session, authorization: str | None) -> Gateway:
    # Gateway tokens are 256 random bits: SHA-256 of the token is as good as a slow hash
    # (nothing to brute-force) and costs microseconds on every request; argon2 is for the
    # staff's passwords.
    token = _bearer_token(authorization)
    gateway = session.scalar(select(Gateway).where(Gateway.token_hash == hash_secret(token)))
    if gateway is None or gateway.revoked_at is not None:
        raise _reject(401, "invalid_token", INVALID_TOKEN)
    return gateway


@dataclass(frozen=True)
class GatewayIdentity:
    """Who posts: all the event path needs of the gateway row (no ORM object to load), and
    for a batch with check-ins what recording them needs of the household, read with it."""

    id: str
    household_id: str
    checkin_context: CheckinContext | None = None


# Core, not ORM: the row is only read, and an ORM entity load was a quarter of a life-sign
# summary's CPU (bench/gateway_cost.py, docs/benchmarks.md "morning"). A revoked token is
# refused by the same statement, so revocation stays immediate (nothing is cached).
_GATEWAYS = Gateway.__table__
_GATEWAY_BY_TOKEN = select(_GATEWAYS.c.id, _GATEWAYS.c.household_id).where(
    _GATEWAYS.c.token_hash == bindparam("token_hash"), _GATEWAYS.c.revoked_at.is_(None)
)


def identify(
    session: Session, authorization: str | None, *, with_checkin_context: bool = False
) -> GatewayIdentity:
    """The gateway a bearer token belongs to, in one indexed lookup; 401 if none or revoked.
    `with_checkin_context`: the household's zone, slots and incident flags in the same
    statement (a batch with check-ins needs them: one round trip instead of two)."""
    token = _bearer_token(authorization)
    params = {"token_hash": hash_secret(token)}
    if with_checkin_context:
        rows = session.execute(_GATEWAY_WITH_CHECKIN_CONTEXT, params).all()
        if not rows:
            raise _reject(401, "invalid_token", INVALID_TOKEN)
        first = rows[0]
        return GatewayIdentity(first.gateway_id, first.household_id, _checkin_context(rows))
    row = session.execute(_GATEWAY_BY_TOKEN, params).first()
    if row is None:
        raise _reject(401, "invalid_token", INVALID_TOKEN)
    return GatewayIdentity(row.id, row.household_id)


def _reject(status: int, error: str, detail: str) -> ApiError:
    metrics.REJECTED.labels(error).inc()
    return ApiError(status, error, detail)


# --- events --------------------------------------------------------------------------------


def check_tenancy(gateway: Gateway | GatewayIdentity, events: list[v1.Event]) -> None:
    """The one whole-batch rule (403): a gateway posts its own household's events only."""
    for event in events:
        if event.household_id != gateway.household_id or event.gateway_id != gateway.id:
            raise _reject(
                403,
                "wrong_household",
                f"event {event.id} is for household {event.household_id} / gateway "
                f"{event.gateway_id}; this gateway may only post its own household's events.",
            )


def screen_times(
    events: list[v1.Event], now: datetime, max_skew: timedelta
) -> tuple[list[v1.Event], list[v1.RejectedEvent]]:
    """Per event: times outside the sane window are refused for good (`time_out_of_range`);
    an event a little ahead of our clock is refused for now (`clock_skew`, retryable: the
    gateway keeps it and resends; a 200 for it would make the gateway delete an event
    whose time we cannot trust)."""
    latest = now + v1.LATEST_EVENT_AHEAD
    good: list[v1.Event] = []
    bad: list[v1.RejectedEvent] = []
    for event in events:
        times = (event.occurred_at, event.recorded_at)
        untrusted = any(t < v1.EARLIEST_EVENT_TIME or t > latest for t in times) or (
            event.occurred_at > now + max_skew
        )
        if untrusted and immediate_cause(event.kind.value, event.payload):
            # A call for help is never refused or delayed for its gateway's clock: it is
            # stored as arriving now (the gateway reports its skew on its own).
            metrics.INGEST_TIME_RESTAMPED.labels(kind=event.kind.value).inc()
            log_event(
                log,
                "ingest.time_restamped",
                event_id=event.id,
                household_id=event.household_id,
                occurred_at=event.occurred_at.isoformat(),
            )
            good.append(event.model_copy(update={"occurred_at": now, "recorded_at": now}))
        elif any(t < v1.EARLIEST_EVENT_TIME or t > latest for t in times):
            bad.append(
                _refused(
                    event,
                    "time_out_of_range",
                    f"occurred_at {event.occurred_at.isoformat()} / recorded_at "
                    f"{event.recorded_at.isoformat()} outside "
                    f"{v1.EARLIEST_EVENT_TIME.date()} .. now + {v1.LATEST_EVENT_AHEAD}",
                )
            )
        elif event.occurred_at > now + max_skew:
            bad.append(
                _refused(
                    event,
                    "clock_skew",
                    f"occurred_at {event.occurred_at.isoformat()} is in the future (server "
                    f"time {now.isoformat()}); fix the gateway clock, resend later.",
                )
            )
        else:
            good.append(event)
    return good, bad


def _refused(event: v1.Event, reason: str, detail: str) -> v1.RejectedEvent:
    metrics.REJECTED.labels(reason).inc()
    return v1.RejectedEvent(id=event.id, error=detail, reason=reason)


def store_one_by_one(
    session: Session,
    ctx: FollowUps,
    gateway: GatewayIdentity,
    events: list[v1.Event],
    now: datetime,
) -> tuple[list[str], list[str], list[v1.RejectedEvent]]:
    """The fallback when a batch failed as a whole: each event in a savepoint of its own, so
    an event the database refuses is returned as rejected (`storage_error`) and the rest of
    the batch commits. (The fast path, store_events, takes no savepoint: two round trips
    per batch saved while nothing fails.)"""
    failed: list[v1.RejectedEvent] = []
    # Each event may open or settle an incident the next one must see: no context read
    # before the first one.
    gateway = GatewayIdentity(gateway.id, gateway.household_id)
    stored: dict[int, bool] = {}  # batch position -> newly stored (False: a duplicate)
    # In the order they happened, as the fast path records check-ins: the first answer to a
    # slot wins whichever path the batch took (tests/cloud/test_ingest_checkin_paths.py).
    for index in sorted(range(len(events)), key=lambda i: events[i].occurred_at):
        event = events[index]
        try:
            with session.begin_nested():
                one_accepted, _ = store_events(session, ctx, gateway, [event], now)
        except Exception as exc:  # any failure of this one event: report it, store the rest
            failed.append(_storage_error(event, exc))
            continue
        stored[index] = bool(one_accepted)
    accepted = [events[i].id for i in sorted(stored) if stored[i]]
    duplicates = [events[i].id for i in sorted(stored) if not stored[i]]
    return accepted, duplicates, failed


def _storage_error(event: v1.Event, exc: Exception) -> v1.RejectedEvent:
    log_event(
        log,
        "ingest.storage_error",
        logging.ERROR,
        exc_info=True,
        event_id=event.id,
        kind=event.kind.value,
        gateway_id=event.gateway_id,
        household_id=event.household_id,
        error=f"{type(exc).__name__}: {exc}"[:300],
    )
    metrics.EVENTS.labels("storage_error").inc()
    return _refused(
        event, "storage_error", f"the database refused this event: {type(exc).__name__}"
    )


# Event ids are unique per gateway, not across gateways: an id another gateway already used is
# stored under an id derived from (sending gateway, id), so it can neither swallow nor be
# swallowed, and a resend from the same gateway maps to the same derived id (idempotent).
_SCOPED_ID_NAMESPACE = uuid.UUID("0f9c1c43-8f0e-4b7a-9d4e-6b1b5e0c2a71")


def scoped_event_id(gateway_id: str, event_id: str) -> str:
    return str(uuid.uuid5(_SCOPED_ID_NAMESPACE, f"{gateway_id}/{event_id}"))


def store_events(
    session: Session,
    ctx: FollowUps,
    gateway: GatewayIdentity | Gateway,
    events: list[v1.Event],
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Insert new events (ON CONFLICT DO NOTHING), apply their effects; -> accepted, duplicates.

    A constant, small number of statements per batch whatever its size: ingest cost is
    round trips, not rows.
    """
    if not isinstance(gateway, GatewayIdentity):  # an ORM row (tools, tests)
        gateway = GatewayIdentity(gateway.id, gateway.household_id)
    unique: dict[str, v1.Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    # PostgreSQL with the context at hand: the check-ins' upsert rides on the event insert
    # (one statement, one round trip less per answer at the 09:00 peak).
    candidates = _upsert_candidates(session, gateway, list(unique.values()))
    inserted = _insert_events(session, list(unique.values()), now, candidates)
    clashes = [e for e in unique.values() if e.id not in inserted]
    rekeyed: dict[str, v1.Event] = {}
    if clashes:
        rekeyed = _store_foreign_clashes(session, clashes, now)
        for original, copy in rekeyed.items():
            inserted.add(original)
            unique[original] = copy
    accepted, duplicates = _accepted_and_duplicates(events, inserted)
    fresh = [unique[event_id] for event_id in accepted]
    # Life-sign summaries and sensor news (~28 of a household's ~30 events a day) change
    # nothing else: no household row to read for them.
    if any(_has_effects(event) for event in fresh):
        # A rekeyed copy's check-in was not in the combined statement: upsert them all again
        # (idempotent: the same rows, and an answer is never overridden).
        upserted = bool(candidates) and not rekeyed
        _apply_effects(session, ctx, gateway, fresh, now, checkins_upserted=upserted)
    metrics.EVENTS.labels("accepted").inc(len(accepted))
    metrics.EVENTS.labels("duplicate").inc(len(duplicates))
    return accepted, duplicates


def _accepted_and_duplicates(
    events: list[v1.Event], inserted: set[str]
) -> tuple[list[str], list[str]]:
    """Pure: ids repeated within one batch count once as accepted, then as duplicates."""
    seen: set[str] = set()
    accepted: list[str] = []
    duplicates: list[str] = []
    for event in events:
        if event.id in inserted and event.id not in seen:
            accepted.append(event.id)
        else:
            duplicates.append(event.id)
        seen.add(event.id)
    return accepted, duplicates


def _store_foreign_clashes(
    session: Session, clashes: list[v1.Event], now: datetime
) -> dict[str, v1.Event]:
    """Ids already stored by *another* gateway: store ours under the scoped id.
    -> original id -> the stored copy, for the copies newly inserted."""
    rows = session.execute(
        select(EventRecord.id, EventRecord.gateway_id).where(
            EventRecord.id.in_([e.id for e in clashes])
        )
    )
    owners = {event_id: gateway_id for event_id, gateway_id in rows}
    foreign = [e for e in clashes if owners.get(e.id, e.gateway_id) != e.gateway_id]
    if not foreign:
        return {}
    copies = {
        e.id: e.model_copy(update={"id": scoped_event_id(e.gateway_id, e.id)}) for e in foreign
    }
    stored = _insert_events(session, list(copies.values()), now)
    metrics.EVENTS.labels("rekeyed").inc(len(stored))
    return {original: copy for original, copy in copies.items() if copy.id in stored}


CHECKIN_KINDS = (v1.EventKind.CHECKIN_ANSWERED, v1.EventKind.CHECKIN_NO_RESPONSE)

# PostgreSQL: one short statement with array parameters instead of a multi-row VALUES list,
# so the statement text is the same for every batch (psycopg caches and prepares it).
_PG_INSERT_EVENTS = text(
    """
    INSERT INTO events
        (id, household_id, gateway_id, kind, occurred_at, recorded_at, received_at, payload)
    SELECT u.id, u.household_id, u.gateway_id, u.kind, u.occurred_at, u.recorded_at,
           :received_at, u.payload
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:households AS varchar[]), CAST(:gateways AS varchar[]),
        CAST(:kinds AS varchar[]), CAST(:occurred AS timestamptz[]),
        CAST(:recorded AS timestamptz[]), CAST(:payloads AS jsonb[])
    ) AS u(id, household_id, gateway_id, kind, occurred_at, recorded_at, payload)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)


_EVENTS = EventRecord.__table__
_SQLITE_INSERT_EVENTS = (
    sqlite_insert(_EVENTS).on_conflict_do_nothing(index_elements=["id"]).returning(_EVENTS.c.id)
)


# The same insert, and the check-ins of the events it stored upserted in the same statement
# (data-modifying CTEs): per (slot date, slot) the row _checkin_rows would pick, first
# answer in time order, else the first no_response (DISTINCT ON; `ord` is that order).
_PG_INSERT_EVENTS_AND_CHECKINS = text(
    """
    WITH ins AS ("""
    + _PG_INSERT_EVENTS.text
    + """), picked AS (
        SELECT DISTINCT ON (c.slot_date, c.slot) c.*
        FROM unnest(
            CAST(:c_events AS varchar[]), CAST(:c_dates AS date[]), CAST(:c_slots AS varchar[]),
            CAST(:c_status AS varchar[]), CAST(:c_intents AS varchar[]),
            CAST(:c_confidences AS float8[]), CAST(:c_occurred AS timestamptz[])
        ) WITH ORDINALITY
            AS c(event_id, slot_date, slot, status, intent, confidence, occurred_at, ord)
        WHERE c.event_id IN (SELECT id FROM ins)
        ORDER BY c.slot_date, c.slot, c.status = 'answered' DESC, c.ord
    ), up AS (
        INSERT INTO checkins
            (household_id, slot_date, slot, status, intent, confidence, occurred_at, event_id)
        SELECT :household_id, slot_date, slot, status, intent, confidence, occurred_at, event_id
        FROM picked
        ON CONFLICT (household_id, slot_date, slot) DO UPDATE SET
            status = excluded.status, intent = excluded.intent,
            confidence = excluded.confidence, occurred_at = excluded.occurred_at,
            event_id = excluded.event_id
        WHERE checkins.status <> 'answered' AND excluded.status = 'answered'
    )
    SELECT id FROM ins
    """
)


# PostgreSQL, a batch with no effects (life-sign summaries, sensor news: ~28 of a household's
# ~30 events a day): the token lookup, the tenancy rule and the insert in one autocommit
# statement, one round trip instead of four (BEGIN, lookup, insert, COMMIT). The insert is
# guarded: nothing is stored unless every event is this gateway's own (else the caller's 403).
_PG_STORE_PLAIN_EVENTS = text(
    """
    WITH gw AS (
        SELECT id, household_id FROM gateways
        WHERE token_hash = :token_hash AND revoked_at IS NULL
    ), ins AS (
        INSERT INTO events
            (id, household_id, gateway_id, kind, occurred_at, recorded_at, received_at, payload)
        SELECT u.id, u.household_id, u.gateway_id, u.kind, u.occurred_at, u.recorded_at,
               :received_at, u.payload
        FROM gw, unnest(
            CAST(:ids AS varchar[]), CAST(:households AS varchar[]),
            CAST(:gateways AS varchar[]), CAST(:kinds AS varchar[]),
            CAST(:occurred AS timestamptz[]), CAST(:recorded AS timestamptz[]),
            CAST(:payloads AS jsonb[])
        ) AS u(id, household_id, gateway_id, kind, occurred_at, recorded_at, payload)
        WHERE NOT EXISTS (
            SELECT 1 FROM unnest(
                CAST(:all_households AS varchar[]), CAST(:all_gateways AS varchar[])
            ) AS t(household_id, gateway_id)
            WHERE t.household_id <> gw.household_id OR t.gateway_id <> gw.id
        )
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    SELECT gw.id, gw.household_id, ARRAY(SELECT id FROM ins) AS inserted FROM gw
    """
)


def has_no_effects(events: list[v1.Event]) -> bool:
    return not any(_has_effects(event) for event in events)


def store_plain_events_postgres(
    engine: Engine,
    sessions: sessionmaker[Session],
    authorization: str | None,
    events: list[v1.Event],
    now: datetime,
    identified: Callable[[GatewayIdentity], None],
) -> tuple[list[str], list[str]]:
    """identify + check_tenancy + store_events for a batch without effects, in one statement
    (autocommit: durable when it returns); `identified` is told the gateway once known.
    An id another gateway used (rare) is stored rekeyed in a transaction of its own."""
    token = _bearer_token(authorization)
    unique: dict[str, v1.Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    params = {
        **_pg_event_params(list(unique.values()), now),
        "token_hash": hash_secret(token),
        # every event of the batch, repeated ids too: the guard is check_tenancy's rule
        "all_households": [e.household_id for e in events],
        "all_gateways": [e.gateway_id for e in events],
    }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(_PG_STORE_PLAIN_EVENTS, params).first()
    if row is None:
        raise _reject(401, "invalid_token", INVALID_TOKEN)
    gateway = GatewayIdentity(row.id, row.household_id)
    identified(gateway)
    check_tenancy(gateway, events)  # the guard stored nothing if this refuses
    inserted = set(row.inserted)
    clashes = [e for e in unique.values() if e.id not in inserted]
    if clashes:
        with transaction(sessions) as session:
            inserted |= set(_store_foreign_clashes(session, clashes, now))
    accepted, duplicates = _accepted_and_duplicates(events, inserted)
    metrics.EVENTS.labels("accepted").inc(len(accepted))
    metrics.EVENTS.labels("duplicate").inc(len(duplicates))
    return accepted, duplicates


def _upsert_candidates(
    session: Session, gateway: GatewayIdentity, events: list[v1.Event]
) -> list[dict]:
    """The check-in row of each check-in event, in time order, when the combined statement
    applies (PostgreSQL, the household's context read with the gateway); else []."""
    context = gateway.checkin_context
    if context is None or session.get_bind().dialect.name != "postgresql":
        return []
    checkins = sorted((e for e in events if e.kind in CHECKIN_KINDS), key=lambda e: e.occurred_at)
    return [_checkin_row(gateway.household_id, context, event) for event in checkins]


def _insert_events(
    session: Session, events: list[v1.Event], now: datetime, checkins: list[dict] | None = None
) -> set[str]:
    """-> the ids stored; `checkins` (PostgreSQL): rows to upsert for those stored."""
    if not events:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        params = _pg_event_params(events, now)
        if not checkins:
            return set(session.scalars(_PG_INSERT_EVENTS, params).all())
        params |= {
            "household_id": checkins[0]["household_id"],
            "c_events": [c["event_id"] for c in checkins],
            "c_dates": [c["slot_date"] for c in checkins],
            "c_slots": [c["slot"] for c in checkins],
            "c_status": [c["status"] for c in checkins],
            "c_intents": [c["intent"] for c in checkins],
            "c_confidences": [_float_or_none(c["confidence"]) for c in checkins],
            "c_occurred": [c["occurred_at"] for c in checkins],
        }
        return set(session.scalars(_PG_INSERT_EVENTS_AND_CHECKINS, params).all())
    rows = [
        {
            "id": e.id,
            "household_id": e.household_id,
            "gateway_id": e.gateway_id,
            "kind": e.kind.value,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "received_at": now,
            "payload": e.payload,
        }
        for e in events
    ]
    return set(session.scalars(_SQLITE_INSERT_EVENTS, rows).all())


def _pg_event_params(events: list[v1.Event], now: datetime) -> dict[str, Any]:
    return {
        "ids": [e.id for e in events],
        "households": [e.household_id for e in events],
        "gateways": [e.gateway_id for e in events],
        "kinds": [e.kind.value for e in events],
        "occurred": [e.occurred_at for e in events],
        "recorded": [e.recorded_at for e in events],
        "payloads": [json.dumps(e.payload, ensure_ascii=False) for e in events],
        "received_at": now,
    }


def _has_effects(event: v1.Event) -> bool:
    return event.kind in CHECKIN_KINDS or _has_other_effect(event)


def _has_other_effect(event: v1.Event) -> bool:
    return (
        event.kind == v1.EventKind.COMMAND_DONE
        or immediate_cause(event.kind.value, event.payload) is not None
    )


@dataclass(frozen=True)
class CheckinContext:
    """What recording check-ins needs of the household, read in one statement: its zone, its
    slots, and whether an incident exists that an answer may settle (then, and only then, the
    ORM household and its incidents are loaded)."""

    timezone: str
    slots: list[SlotSpec]
    slot_incident_open: bool  # a missed-slot incident an answer would resolve
    offline_slot_incident: bool  # a gateway_offline incident naming a slot
    next_deadline: datetime | None = None  # the deadline a worker claims next


_HOUSEHOLDS = Household.__table__
_SLOTS = ScheduleSlot.__table__
_INCIDENTS = Incident.__table__
_CHECKIN_CONTEXT_COLUMNS = (
    _HOUSEHOLDS.c.id.label("household_id"),
    _HOUSEHOLDS.c.timezone,
    _HOUSEHOLDS.c.next_deadline,
    _SLOTS.c.name,
    _SLOTS.c.time,
    _SLOTS.c.window_min,
    _SLOTS.c.grace_min,
    _SLOTS.c.reask_offsets_min,
    select(_INCIDENTS.c.id)
    .where(
        _INCIDENTS.c.household_id == _HOUSEHOLDS.c.id,
        # `cause = a OR cause = b`, not IN: an IN list is an "expanding" parameter, re-rendered
        # into the cached statement on every execution (~3 % of a check-in answer's API CPU).
        or_(*(_INCIDENTS.c.cause == cause for cause in SLOT_CAUSES)),
        _INCIDENTS.c.state != "resolved",
    )
    .exists()
    .label("slot_open"),
    select(_INCIDENTS.c.id)
    .where(
        _INCIDENTS.c.household_id == _HOUSEHOLDS.c.id,
        _INCIDENTS.c.cause == "gateway_offline",
        _INCIDENTS.c.slot.is_not(None),
    )
    .exists()
    .label("offline_slot"),
)
_HOUSEHOLD_SLOTS = _HOUSEHOLDS.outerjoin(_SLOTS, _SLOTS.c.household_id == _HOUSEHOLDS.c.id)
_CHECKIN_CONTEXT = (
    select(*_CHECKIN_CONTEXT_COLUMNS)
    .select_from(_HOUSEHOLD_SLOTS)
    .where(_HOUSEHOLDS.c.id == bindparam("household_id"))
    .order_by(_SLOTS.c.time)
)
_GATEWAY_WITH_CHECKIN_CONTEXT = (
    select(_GATEWAYS.c.id.label("gateway_id"), *_CHECKIN_CONTEXT_COLUMNS)
    .select_from(_GATEWAYS.join(_HOUSEHOLD_SLOTS, _HOUSEHOLDS.c.id == _GATEWAYS.c.household_id))
    .where(_GATEWAYS.c.token_hash == bindparam("token_hash"), _GATEWAYS.c.revoked_at.is_(None))
    .order_by(_SLOTS.c.time)
)


def checkin_context(session: Session, household_id: str) -> CheckinContext:
    rows = session.execute(_CHECKIN_CONTEXT, {"household_id": household_id}).all()
    return _checkin_context(rows)  # the gateway row's foreign key guarantees the household


def _checkin_context(rows: Sequence[Row[Any]]) -> CheckinContext:
    """One row per slot (one with no slot columns for a household without slots)."""
    first = rows[0]
    return CheckinContext(
        timezone=first.timezone,
        slots=[
            SlotSpec(r.name, r.time, r.window_min, r.grace_min, tuple(r.reask_offsets_min or ()))
            for r in rows
            if r.name is not None
        ],
        slot_incident_open=bool(first.slot_open),
        offline_slot_incident=bool(first.offline_slot),
        next_deadline=first.next_deadline,
    )


def _apply_effects(
    session: Session,
    ctx: FollowUps,
    gateway: GatewayIdentity,
    fresh: list[v1.Event],
    now: datetime,
    *,
    checkins_upserted: bool = False,
) -> None:
    """Check-ins, calls for help, command.done. The ORM household (office, municipality,
    chains) is loaded only when an incident is to be opened or settled.
    `checkins_upserted`: the event insert already upserted the check-in rows."""
    household_id = gateway.household_id
    loaded: list[Household] = []

    def household() -> Household:
        if not loaded:
            loaded.append(session.get_one(Household, household_id))
        return loaded[0]

    checkins = [e for e in fresh if e.kind in CHECKIN_KINDS]
    if checkins:
        context = gateway.checkin_context or checkin_context(session, household_id)
        _record_checkins(
            session, ctx, household_id, context, household, checkins, now, checkins_upserted
        )
    for event in fresh:
        if _has_other_effect(event):
            _apply_other(session, household_id, household, event, now)


def _apply_other(
    session: Session,
    household_id: str,
    household: Callable[[], Household],
    event: v1.Event,
    now: datetime,
) -> None:
    kind = event.kind.value
    # "Needs help" in a disaster check escalates like a help request, not only a banner.
    cause = immediate_cause(kind, event.payload)
    if cause:
        incidents.open_incident(session, household(), cause, now, source_event_id=event.id)
    elif kind == v1.EventKind.COMMAND_DONE:
        session.execute(
            update(Command)
            .where(
                Command.id == event.payload.get("command_id"),
                Command.household_id == household_id,
            )
            .values(done_at=event.occurred_at)
        )


_CHECKINS = Checkin.__table__
_CHECKIN_UPDATED = ("status", "intent", "confidence", "occurred_at", "event_id")


def _checkin_upsert(insert: Any) -> Any:
    """Built once per dialect: an answer overrides a no_response, never the other way round."""
    stmt = insert(_CHECKINS)
    return stmt.on_conflict_do_update(
        index_elements=["household_id", "slot_date", "slot"],
        set_={col: stmt.excluded[col] for col in _CHECKIN_UPDATED},
        where=(_CHECKINS.c.status != "answered") & (stmt.excluded.status == "answered"),
    )


_CHECKIN_UPSERT = {
    "postgresql": _checkin_upsert(pg_insert),
    "sqlite": _checkin_upsert(sqlite_insert),
}


def _record_checkins(
    session: Session,
    ctx: FollowUps,
    household_id: str,
    context: CheckinContext,
    household: Callable[[], Household],
    events: list[v1.Event],
    now: datetime,
    upserted: bool = False,
) -> None:
    """Upsert one row per (slot date, slot): an answer overrides a no_response, never the
    other way round; then close missed-slot incidents that the answers settle.
    `upserted`: the rows are already written (the combined PostgreSQL insert)."""
    if not events:
        return
    rows = _checkin_rows(household_id, context, events)
    if not upserted:
        session.execute(_CHECKIN_UPSERT[session.get_bind().dialect.name], list(rows.values()))
    answered = {key: row for key, row in rows.items() if row["status"] == "answered"}
    if answered and (context.slot_incident_open or _worker_may_have_claimed(session, context)):
        _resolve_late(session, ctx, household_id, household, answered, now)
    # A later answer in the same batch shows the resident is fine: no alarm for the old slot.
    last_answer = max((row["occurred_at"] for row in answered.values()), default=None)
    silent = [
        key
        for key, row in rows.items()
        if row["status"] == "no_response"
        and (last_answer is None or row["occurred_at"] > last_answer)
    ]
    if silent and context.offline_slot_incident:
        _open_missed_while_offline(session, household(), silent, now)


def _checkin_row(household_id: str, context: CheckinContext, event: v1.Event) -> dict:
    """Pure: the checkins row one check-in event asks for."""
    payload = event.payload
    slot = slot_for_answer(context.slots, str(payload.get("slot")))
    answered = event.kind == v1.EventKind.CHECKIN_ANSWERED
    return {
        "household_id": household_id,
        "slot_date": _slot_date(payload.get("slot_date"), event, context.timezone),
        "slot": slot.name if slot else str(payload.get("slot")),
        "status": "answered" if answered else "no_response",
        "intent": payload.get("intent") if answered else None,
        "confidence": payload.get("confidence"),
        "occurred_at": event.occurred_at,
        "event_id": event.id,
    }


def _checkin_rows(
    household_id: str, context: CheckinContext, events: list[v1.Event]
) -> dict[tuple[date, str], dict]:
    """Pure: one row per (slot date, slot), in time order the first answer, else the first
    no_response (_PG_INSERT_EVENTS_AND_CHECKINS picks the same in SQL)."""
    rows: dict[tuple[date, str], dict] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        row = _checkin_row(household_id, context, event)
        key = (row["slot_date"], row["slot"])
        current = rows.get(key)
        if current is None or (row["status"] == "answered" and current["status"] != "answered"):
            rows[key] = row
    return rows


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _slot_date(reported: object, event: v1.Event, timezone: str) -> date:
    if isinstance(reported, str):
        try:
            return date.fromisoformat(reported)
        except ValueError:
            pass
    return local_date_of(event.occurred_at, timezone)


# How far the clocks of an API process and a worker may disagree (NTP keeps them far closer).
CLOCK_SKEW = timedelta(minutes=1)


def _worker_may_have_claimed(session: Session, context: CheckinContext) -> bool:
    """Whether a worker may have opened a missed-slot incident after `context` was read.

    The answer/worker race (issue 18): detection holds the household row FOR UPDATE while it
    opens the incident, and our event insert's foreign-key check waits for that row, so a
    statement after the insert sees the incident committed; the context, read before, may
    not. Only when the household's next deadline has come (by this process's clock, read
    now, after the waits) can a worker have claimed it: the usual early answer pays nothing.
    SQLite serialises whole transactions (BEGIN IMMEDIATE): the look again finds nothing new.
    """
    deadline = context.next_deadline
    return deadline is not None and deadline <= session_clock(session)() + CLOCK_SKEW


def _resolve_late(
    session: Session,
    ctx: FollowUps,
    household_id: str,
    household: Callable[[], Household],
    answered: dict[tuple[date, str], dict],
    now: datetime,
) -> None:
    """A late answer closes the missed-slot incident and tells everyone already alarmed."""
    stmt = select(Incident).where(
        Incident.household_id == household_id,
        Incident.cause.in_(SLOT_CAUSES),
        Incident.state != "resolved",
    )
    for incident in session.scalars(stmt):
        row = answered.get((incident.slot_date, incident.slot))  # type: ignore[arg-type]
        if row is None:
            continue
        incidents.resolve(session, incident, "answered_late", "応答がありました（自動）", now)
        ctx.answered_late(session, household(), incident, row, now)


def _open_missed_while_offline(
    session: Session, household: Household, silent: list[tuple[date, str]], now: datetime
) -> None:
    """The gateway was offline at a slot's deadline (cause gateway_offline), yet it asked and
    the resident did not answer: now that we know, that is a missed check-in, as it would
    have been at the deadline. Its chain starts now (re-prompt first)."""
    offline = session.execute(
        select(Incident.slot_date, Incident.slot).where(
            Incident.household_id == household.id,
            Incident.cause == "gateway_offline",
            Incident.slot.is_not(None),
        )
    )
    covered = {(row.slot_date, row.slot) for row in offline}
    for slot_date, slot in silent:
        if (slot_date, slot) in covered:
            incidents.open_incident(
                session, household, "missed_checkin", now, slot=slot, slot_date=slot_date
            )


# --- heartbeat and config -------------------------------------------------------------------


GATEWAY_BACK_NOTE = "見守り機が再接続しました（自動）"


# The history keeps the first heartbeat of each quarter hour and every one that says something
# new (devices, version, outbox depth): 96 rows a household-day at the default 60 s interval
# instead of 1,440, which were 99 % of a household's daily database bytes (bench/morning.py,
# docs/benchmarks.md "morning"). Each gateway's quarter starts at its own offset so the kept
# rows are spread over the quarter, not written by every gateway in the same minute. The
# gateway row always holds the latest heartbeat.
HEARTBEAT_HISTORY_EVERY = timedelta(minutes=15)


def history_phase_s(gateway_id: str) -> float:
    return float(zlib.crc32(gateway_id.encode()) % int(HEARTBEAT_HISTORY_EVERY.total_seconds()))


def keep_in_history(
    previous: dict | None,
    previous_at: datetime | None,
    data: dict,
    now: datetime,
    phase_s: float = 0.0,
) -> bool:
    if previous is None or previous_at is None:
        return True
    every = HEARTBEAT_HISTORY_EVERY.total_seconds()
    if (previous_at.timestamp() - phase_s) // every != (now.timestamp() - phase_s) // every:
        return True
    return {**previous, "uptime_s": None} != {**data, "uptime_s": None}


def heartbeat(
    session: Session, ctx: FollowUps, gateway: Gateway, body: v1.Heartbeat, now: datetime
) -> v1.HeartbeatResponse:
    """Record the beat. The common case (no offline incident to close, no command waiting)
    is two UPDATEs after the token lookup: heartbeats are ~98 % of all gateway requests
    (docs/scaling.md), so every round trip here is paid a thousand times a household-day."""
    data = body.model_dump(mode="json")
    phase = history_phase_s(gateway.id)
    if keep_in_history(gateway.last_heartbeat, gateway.last_heartbeat_at, data, now, phase):
        session.add(HeartbeatRecord(gateway_id=gateway.id, received_at=now, body=data))
    gateway.last_heartbeat_at = now
    gateway.last_heartbeat = data
    gateway.software_version = body.software_version
    household_id = gateway.household_id
    offline_open = (
        select(Incident.id)
        .where(
            Incident.household_id == household_id,
            Incident.cause == "gateway_offline",
            Incident.state != "resolved",
        )
        .exists()
    )
    waiting = (
        select(Command.id)
        .where(Command.household_id == household_id, Command.done_at.is_(None))
        .where((Command.expires_at.is_(None)) | (Command.expires_at > now))
        .exists()
    )
    # One statement: stamp the household and learn whether anything else is to be done.
    beat = session.execute(
        update(Household)
        .where(Household.id == household_id)
        .values(last_heartbeat_at=now)
        .returning(Household.config_version, offline_open.label("offline"), waiting.label("cmd"))
        .execution_options(synchronize_session=False)
    ).one()
    if beat.offline:
        _settle_gateway_back(session, ctx, session.get_one(Household, household_id), now)
    pending = _deliver_commands(session, household_id, now) if beat.cmd else []
    session.flush()
    return v1.HeartbeatResponse(
        config_version=beat.config_version,
        server_time=now,
        commands=[cmd for c in pending if (cmd := _typed_command(c)) is not None],
    )


# PostgreSQL: the whole steady heartbeat in one autocommit statement, one round trip: find
# the gateway by its token (and read its previous heartbeat for the history rule), stamp it
# and its household, and learn whether an outage is to be closed or a command is waiting.
# On a busy machine every round trip waits for the database's turn on a CPU: the morning run
# (docs/benchmarks.md) lost its time there, not in Python.
_PG_HEARTBEAT = text(
    """
    WITH old AS (
        SELECT id, household_id, last_heartbeat, last_heartbeat_at FROM gateways
        WHERE token_hash = :token_hash AND revoked_at IS NULL
        FOR UPDATE
    ), gw AS (
        UPDATE gateways SET last_heartbeat_at = :now, last_heartbeat = CAST(:body AS jsonb),
            software_version = :version
        FROM old WHERE gateways.id = old.id
        RETURNING gateways.household_id
    ), hh AS (
        UPDATE households SET last_heartbeat_at = :now
        WHERE households.id IN (SELECT household_id FROM gw)
        RETURNING households.config_version,
            EXISTS (SELECT 1 FROM incidents i WHERE i.household_id = households.id
                    AND i.cause = 'gateway_offline' AND i.state <> 'resolved') AS offline,
            EXISTS (SELECT 1 FROM commands c WHERE c.household_id = households.id
                    AND c.done_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > :now))
                AS cmd
    )
    SELECT old.id, old.household_id, old.last_heartbeat, old.last_heartbeat_at,
           hh.config_version, hh.offline, hh.cmd
    FROM old CROSS JOIN hh
    """
)


def heartbeat_postgres(
    engine: Engine,
    sessions: sessionmaker[Session],
    ctx: FollowUps,
    authorization: str | None,
    body: v1.Heartbeat,
    now: datetime,
) -> v1.HeartbeatResponse:
    """The same as authenticate + heartbeat, in one statement while nothing else is to do."""
    token = _bearer_token(authorization)
    data = body.model_dump(mode="json")
    params = {
        "token_hash": hash_secret(token),
        "now": now,
        "body": json.dumps(data, ensure_ascii=False),
        "version": body.software_version,
    }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        beat = conn.execute(_PG_HEARTBEAT, params).first()
        if beat is None:
            raise _reject(401, "invalid_token", INVALID_TOKEN)
        phase = history_phase_s(beat.id)
        if keep_in_history(beat.last_heartbeat, beat.last_heartbeat_at, data, now, phase):
            conn.execute(
                insert(HeartbeatRecord).values(gateway_id=beat.id, received_at=now, body=data)
            )
    pending: list[Command] = []
    if beat.offline or beat.cmd:
        with sessions() as session, session.begin():
            if beat.offline:
                household = session.get_one(Household, beat.household_id)
                _settle_gateway_back(session, ctx, household, now)
            if beat.cmd:
                pending = _deliver_commands(session, beat.household_id, now)
    return v1.HeartbeatResponse(
        config_version=beat.config_version,
        server_time=now,
        commands=[cmd for c in pending if (cmd := _typed_command(c)) is not None],
    )


def _deliver_commands(session: Session, household_id: str, now: datetime) -> list[Command]:
    pending = session.scalars(
        select(Command)
        .where(Command.household_id == household_id, Command.done_at.is_(None))
        .where((Command.expires_at.is_(None)) | (Command.expires_at > now))
        .order_by(Command.issued_at)
    ).all()
    for command in pending:
        command.delivered_at = command.delivered_at or now
    return list(pending)


def _typed_command(row: Command) -> v1.Command | None:
    """A stored command as the contract's typed model; a row that no longer fits the
    contract is logged and held back (it must not block every other command)."""
    raw = {"id": row.id, "kind": row.kind, "issued_at": row.issued_at, "payload": row.payload}
    try:
        return v1.parse_command(raw)
    except ValueError as exc:
        log.error("command %s (%s) does not fit the contract, not sent: %s", row.id, row.kind, exc)
        return None


def _settle_gateway_back(
    session: Session, ctx: FollowUps, household: Household, now: datetime
) -> None:
    """A heartbeat proves the gateway is back: its offline incident is over. Close it, note
    it for the desk and tell whoever was alarmed. Whether the resident answered the slot
    missed meanwhile is the check-in logic's business (a no_response opens missed_checkin)."""
    stmt = select(Incident).where(
        Incident.household_id == household.id,
        Incident.cause == "gateway_offline",
        Incident.state != "resolved",
    )
    for incident in session.scalars(stmt):
        session.add(
            IncidentNote(
                incident_id=incident.id,
                kind="system",
                text="見守り機が再接続しました",
                author_name="システム",
                created_at=now,
            )
        )
        incidents.resolve(session, incident, "gateway_back", GATEWAY_BACK_NOTE, now)
        ctx.gateway_back(session, household, incident, now)
        metrics.GATEWAYS_BACK.inc()


def gateway_config(
    session: Session, gateway: Gateway, heartbeat_interval_s: int
) -> v1.GatewayConfig:
    household = session.get_one(Household, gateway.household_id)
    return v1.GatewayConfig(
        household_id=household.id,
        config_version=household.config_version,
        heartbeat_interval_s=heartbeat_interval_s,
        timezone=household.timezone,
        language=household.language,  # type: ignore[arg-type]
        slots=[
            v1.Slot(
                name=s.name,
                time=s.time,
                window_min=s.window_min,
                grace_min=s.grace_min,
                questions=s.questions,  # type: ignore[arg-type]
                reask_offsets_min=s.reask_offsets_min,
            )
            for s in household.slots
        ],
        pauses=[
            v1.Pause(starts_at=p.starts_at, ends_at=p.ends_at, reason=p.reason)
            for p in household.pauses
        ],
        quiet_hours=v1.QuietHours(start=household.quiet_start, end=household.quiet_end),
        tts_speed=household.tts_speed,
        tts_volume=household.tts_volume,
        inactivity_deadline=household.inactivity_deadline,
        share_transcripts=household.share_transcripts,
        resident_names=[r.name for r in household.residents],
        holidays=[h.day.isoformat() for h in household.holidays],
    )
