"""Opening, acknowledging and resolving incidents (shared by ingest, worker, API, family links)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.core import metrics
from cloud.escalation.chain import chain_for, step_at
from cloud.escalation.state import OUTCOMES, can_move
from cloud.models import Household, Incident, new_id
from cloud.services.errors import ApiError


def open_incident(
    session: Session,
    household: Household,
    cause: str,
    now: datetime,
    *,
    base: datetime | None = None,
    slot: str | None = None,
    slot_date: date | None = None,
    source_event_id: str | None = None,
) -> Incident | None:
    """Open an incident, or return None when one for this household and cause is open.

    The partial unique index decides, not a prior SELECT, so concurrent workers and API
    processes can race safely; the SAVEPOINT keeps the caller's transaction usable.
    """
    chain = chain_for(cause, household.office.municipality.escalation_chains)
    base = base or now
    first = step_at(chain, base, 0)
    incident = Incident(
        household_id=household.id,
        cause=cause,
        state="open",
        slot=slot,
        slot_date=slot_date,
        deadline_at=base if slot else None,
        opened_at=now,
        source_event_id=source_event_id,
        chain=chain,
        next_step=0,
        next_step_at=first.due_at if first else None,
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        return None
    metrics.INCIDENTS_OPENED.labels(cause).inc()
    return incident


@dataclass(frozen=True)
class NewIncident:
    household: Household
    cause: str
    base: datetime | None = None
    slot: str | None = None
    slot_date: date | None = None
    source_event_id: str | None = None


def open_many(session: Session, wanted: list[NewIncident], now: datetime) -> dict[str, NewIncident]:
    """Open several incidents in one statement; those already open are skipped by the
    partial unique index (ON CONFLICT DO NOTHING). Returns what was opened, by incident id."""
    if not wanted:
        return {}
    rows = []
    for item in wanted:
        chain = chain_for(item.cause, item.household.office.municipality.escalation_chains)
        base = item.base or now
        first = step_at(chain, base, 0)
        rows.append(
            {
                "id": new_id(),
                "household_id": item.household.id,
                "cause": item.cause,
                "state": "open",
                "slot": item.slot,
                "slot_date": item.slot_date,
                "deadline_at": base if item.slot else None,
                "opened_at": now,
                "source_event_id": item.source_event_id,
                "chain": chain,
                "next_step": 0,
                "next_step_at": first.due_at if first else None,
            }
        )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Incident).on_conflict_do_nothing(
        index_elements=["household_id", "cause"], index_where=text("state != 'resolved'")
    )
    opened = list(session.scalars(stmt.returning(Incident.id), rows))
    by_id = {row["id"]: item for row, item in zip(rows, wanted, strict=True)}
    for incident_id in opened:
        metrics.INCIDENTS_OPENED.labels(by_id[incident_id].cause).inc()
    return {incident_id: by_id[incident_id] for incident_id in opened}


def open_incidents_of(session: Session, household_id: str) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident).where(
                Incident.household_id == household_id, Incident.state != "resolved"
            )
        )
    )


def acknowledge(
    session: Session, incident: Incident, by: str, now: datetime, *, name: str | None = None
) -> bool:
    """Stop the chain. Returns False when it was already acknowledged or resolved.

    `by` is the account (e-mail, "family:<email>"); `name` what people read (a staff
    member's name, 「ご家族（名前）」)."""
    if not can_move(incident.state, "acknowledged"):
        return False
    incident.state = "acknowledged"
    incident.acknowledged_at = now
    incident.acknowledged_by = by
    incident.acknowledged_by_name = name
    incident.next_step_at = None
    session.flush()
    return True


def resolve(
    session: Session,
    incident: Incident,
    outcome: str,
    note: str | None,
    now: datetime,
    *,
    by_name: str | None = None,
) -> None:
    if outcome not in OUTCOMES:
        raise ApiError(422, "invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    if not can_move(incident.state, "resolved"):
        raise ApiError(409, "already_resolved", "this incident is already resolved")
    incident.state = "resolved"
    incident.resolved_at = now
    incident.outcome = outcome
    incident.note = note
    incident.resolved_by_name = by_name
    incident.next_step_at = None
    session.flush()
