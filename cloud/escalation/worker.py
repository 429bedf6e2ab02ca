"""Database side of detection and escalation: claim due rows safely, act, commit.

Claiming: rows are selected with FOR UPDATE SKIP LOCKED on PostgreSQL (workers never wait
on each other's rows), then moved on with a compare-and-set UPDATE (`WHERE next_deadline =
<old>` / `WHERE next_step = <old>`), which alone is enough on SQLite, where BEGIN IMMEDIATE
already serialises writers. A row whose CAS fails was taken by another worker: skipped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cloud.core import metrics
from cloud.core.clock import Clock
from cloud.db import transaction
from cloud.escalation.actions import Notifier, run_step
from cloud.escalation.chain import step_at
from cloud.escalation.state import classify_miss
from cloud.mail.daily_report import send_daily_reports
from cloud.models import Checkin, Household, Incident, PostOffice
from cloud.schedule import Deadline, PauseSpec, next_deadline
from cloud.services import incidents
from cloud.services.tenancy import slot_specs

BATCH = 500


def _lock(stmt: Select, session: Session, *entities: object) -> Select:
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=entities or None)
    return stmt


def detect_due(
    sessions: sessionmaker[Session], notifier: Notifier, clock: Clock, stale_after: timedelta
) -> int:
    """Handle every household whose next deadline has passed; returns how many."""
    handled = 0
    while True:
        with transaction(sessions) as session:
            now = clock()
            stmt = (
                select(Household)
                .where(Household.next_deadline <= now)
                .order_by(Household.next_deadline)
                .limit(BATCH)
            )
            due = list(session.scalars(_lock(stmt, session, Household)))
            if not due:
                return handled
            _preload(session, due)
            checkins = _checkins_for(session, due)
            for household in due:
                handled += _handle_deadline(
                    session, notifier, household, checkins, clock(), stale_after
                )
        if len(due) < BATCH:
            return handled


def _preload(session: Session, due: list[Household]) -> None:
    # One query per relation for the whole batch, not per household.
    ids = [h.id for h in due]
    session.scalars(
        select(Household)
        .where(Household.id.in_(ids))
        .options(
            selectinload(Household.slots),
            selectinload(Household.pauses),
            selectinload(Household.holidays),
            selectinload(Household.office).selectinload(PostOffice.municipality),
            selectinload(Household.contacts),
            selectinload(Household.residents),
        )
    ).all()


def _checkins_for(session: Session, due: list[Household]) -> dict[tuple, str]:
    dates = {h.next_slot_date for h in due}
    rows = session.execute(
        select(Checkin.household_id, Checkin.slot_date, Checkin.slot, Checkin.status).where(
            Checkin.household_id.in_([h.id for h in due]), Checkin.slot_date.in_(dates)
        )
    )
    return {(r.household_id, r.slot_date, r.slot): r.status for r in rows}


def _handle_deadline(
    session: Session,
    notifier: Notifier,
    household: Household,
    checkins: dict[tuple, str],
    now: datetime,
    stale_after: timedelta,
) -> int:
    old = household.next_deadline
    slot, slot_date = household.next_slot_name, household.next_slot_date
    assert old is not None
    upcoming = next_deadline(
        slot_specs(household),
        household.timezone,
        old,
        [PauseSpec(p.starts_at, p.ends_at) for p in household.pauses],
        [h.day for h in household.holidays],
    )
    moved = session.execute(
        update(Household)
        .where(Household.id == household.id, Household.next_deadline == old)
        .values(
            next_deadline=upcoming.deadline if upcoming else None,
            next_slot_name=upcoming.slot if upcoming else None,
            next_slot_date=upcoming.slot_date if upcoming else None,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return 0  # another worker handled this deadline
    status = checkins.get((household.id, slot_date, slot))
    cause = classify_miss(status, household.last_heartbeat_at, old, stale_after)
    metrics.DETECTION_LAG.observe(max(0.0, (now - old).total_seconds()))
    if cause is not None:
        incidents.open_incident(
            session, household, cause, now, base=old, slot=slot, slot_date=slot_date
        )
    if slot_date is not None and _is_last_slot_of_day(household, slot, slot_date, upcoming):
        send_daily_reports(session, notifier, household, slot_date, now)
    return 1


def _is_last_slot_of_day(
    household: Household, slot: str | None, slot_date: date, upcoming: Deadline | None
) -> bool:
    return upcoming is None or upcoming.slot_date != slot_date


def escalate_due(sessions: sessionmaker[Session], notifier: Notifier, clock: Clock) -> int:
    """Run every escalation step that is due; returns how many steps ran."""
    ran = 0
    while True:
        with transaction(sessions) as session:
            now = clock()
            stmt = (
                select(Incident)
                .where(Incident.next_step_at <= now, Incident.state == "open")
                .order_by(Incident.next_step_at)
                .limit(BATCH)
            )
            due = list(session.scalars(_lock(stmt, session, Incident)))
            if not due:
                return ran
            for incident in due:
                ran += _advance(session, notifier, incident, now)


def _advance(session: Session, notifier: Notifier, incident: Incident, now: datetime) -> int:
    base = incident.deadline_at or incident.opened_at
    index = incident.next_step
    step = step_at(incident.chain, base, index)
    following = step_at(incident.chain, base, index + 1)
    moved = session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.next_step == index, Incident.state == "open")
        .values(next_step=index + 1, next_step_at=following.due_at if following else None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1 or step is None:
        return 0
    session.refresh(incident)
    household = session.get_one(Household, incident.household_id)
    run_step(session, notifier, incident, household, step, now)
    return 1
