"""The detection pass: claim the households whose next deadline has passed, decide what the
miss means (rules.py), move the deadline on, open the incidents, send the day's reports.

Claiming: due households are selected with FOR UPDATE SKIP LOCKED on PostgreSQL (workers
never wait on each other's rows), then moved on with a compare-and-set UPDATE (`WHERE
next_deadline = <old>`), which alone is enough on SQLite, where BEGIN IMMEDIATE already
serialises writers. A row whose CAS fails was taken by another worker: skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cloud.core import metrics
from cloud.core.clock import Clock
from cloud.core.logging import log_event
from cloud.db import skip_locked, transaction
from cloud.detection.rules import classify_miss
from cloud.mail.daily_report import send_daily_reports
from cloud.mail.links import LinkSigner
from cloud.models import Checkin, Gateway, Household, PostOffice
from cloud.schedule import Deadline, PauseSpec, next_deadline
from cloud.services import incidents
from cloud.services.tenancy import slot_specs

log = logging.getLogger("mimamori.detection")

BATCH = 500
# What deciding a deadline needs, one query per relation for the whole batch.
_PRELOAD = (
    selectinload(Household.slots),
    selectinload(Household.pauses),
    selectinload(Household.holidays),
    selectinload(Household.contacts),
    selectinload(Household.office).selectinload(PostOffice.municipality),
)


def detect_due(
    sessions: sessionmaker[Session], signer: LinkSigner, clock: Clock, stale_after: timedelta
) -> int:
    """Handle every household whose next deadline has passed; returns how many.

    Per batch a fixed number of statements (select, preload, one CAS update, one incident
    insert), so a pass costs what the due rows cost, not what the table holds.
    """
    handled = 0
    while True:
        with transaction(sessions) as session:
            now = clock()
            stmt = (
                select(Household)
                .where(Household.next_deadline <= now)
                .order_by(Household.next_deadline)
                .limit(BATCH)
                .options(*_PRELOAD)
            )
            due = list(session.scalars(skip_locked(stmt, session, Household)))
            if not due:
                return handled
            handled += _handle_batch(session, signer, due, clock(), stale_after)
        if len(due) < BATCH:
            return handled


@dataclass(frozen=True)
class _Verdict:
    household: Household
    old: datetime
    slot: str | None
    slot_date: date | None
    upcoming: Deadline | None
    cause: str | None


def _handle_batch(
    session: Session,
    signer: LinkSigner,
    due: list[Household],
    now: datetime,
    stale_after: timedelta,
) -> int:
    checkins = _checkins_for(session, due)
    installed = _with_gateway(session, due)
    verdicts = [_verdict(h, checkins, stale_after, h.id in installed) for h in due]
    moved = _advance_deadlines(session, verdicts)
    mine = [v for v in verdicts if v.household.id in moved]  # others: another worker's
    opened = incidents.open_many(
        session,
        [
            incidents.NewIncident(
                v.household, v.cause, base=v.old, slot=v.slot, slot_date=v.slot_date
            )
            for v in mine
            if v.cause is not None
        ],
        now,
    )
    incident_of = {
        (new.household.id, new.cause): incident_id for incident_id, new in opened.items()
    }
    for v in mine:
        metrics.DETECTION_LAG.observe(max(0.0, (now - v.old).total_seconds()))
        if v.cause is not None:
            _log_miss(v, incident_of.get((v.household.id, v.cause)))
        if v.household.id not in installed:
            continue  # 未設置: no report of a day nobody was asked about
        if v.slot_date is not None and (v.upcoming is None or v.upcoming.slot_date != v.slot_date):
            send_daily_reports(session, signer, v.household, v.slot_date, now)
    return len(mine)


def _log_miss(v: _Verdict, incident_id: str | None) -> None:
    """One line per passed deadline that means something: the incident it opened, or none
    when one of that cause was still open (the chain already running covers it)."""
    log_event(
        log,
        "detection.opened" if incident_id else "detection.already_open",
        household_id=v.household.id,
        incident_id=incident_id,
        cause=v.cause,
        slot=v.slot,
        slot_date=v.slot_date,
        deadline=v.old,
    )


def _verdict(
    household: Household, checkins: dict[tuple, str], stale_after: timedelta, has_gateway: bool
) -> _Verdict:
    old = household.next_deadline
    assert old is not None
    slot, slot_date = household.next_slot_name, household.next_slot_date
    upcoming = next_deadline(
        slot_specs(household),
        household.timezone,
        old,
        [PauseSpec(p.starts_at, p.ends_at) for p in household.pauses],
        [h.day for h in household.holidays],
        # Another slot may end at this same deadline: it comes next, not never.
        after_slot=(slot_date, slot) if slot_date is not None and slot else None,
    )
    status = checkins.get((household.id, slot_date, slot))
    cause = classify_miss(
        status, household.last_heartbeat_at, old, stale_after, has_gateway=has_gateway
    )
    return _Verdict(household, old, slot, slot_date, upcoming, cause)


# One compare-and-set for the whole batch: rows whose next_deadline is still the one we read.
_PG_ADVANCE = text(
    """
    UPDATE households AS h
    SET next_deadline = v.new_deadline, next_slot_name = v.new_slot, next_slot_date = v.new_date
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:olds AS timestamptz[]), CAST(:news AS timestamptz[]),
        CAST(:slots AS varchar[]), CAST(:dates AS date[])
    ) AS v(id, old_deadline, new_deadline, new_slot, new_date)
    WHERE h.id = v.id AND h.next_deadline = v.old_deadline
    RETURNING h.id
    """
)


def _advance_deadlines(session: Session, verdicts: list[_Verdict]) -> set[str]:
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "ids": [v.household.id for v in verdicts],
            "olds": [v.old for v in verdicts],
            "news": [v.upcoming.deadline if v.upcoming else None for v in verdicts],
            "slots": [v.upcoming.slot if v.upcoming else None for v in verdicts],
            "dates": [v.upcoming.slot_date if v.upcoming else None for v in verdicts],
        }
        return set(session.scalars(_PG_ADVANCE, params))
    moved = set()
    for v in verdicts:  # SQLite: in-process calls, no round trips to save
        result = session.execute(
            update(Household)
            .where(Household.id == v.household.id, Household.next_deadline == v.old)
            .values(
                next_deadline=v.upcoming.deadline if v.upcoming else None,
                next_slot_name=v.upcoming.slot if v.upcoming else None,
                next_slot_date=v.upcoming.slot_date if v.upcoming else None,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            moved.add(v.household.id)
    return moved


def _with_gateway(session: Session, due: list[Household]) -> set[str]:
    """Households among `due` with an enrolled, not revoked gateway."""
    return set(
        session.scalars(
            select(Gateway.household_id)
            .where(Gateway.household_id.in_([h.id for h in due]), Gateway.revoked_at.is_(None))
            .distinct()
        )
    )


def _checkins_for(session: Session, due: list[Household]) -> dict[tuple, str]:
    dates = {h.next_slot_date for h in due}
    rows = session.execute(
        select(Checkin.household_id, Checkin.slot_date, Checkin.slot, Checkin.status).where(
            Checkin.household_id.in_([h.id for h in due]), Checkin.slot_date.in_(dates)
        )
    )
    return {(r.household_id, r.slot_date, r.slot): r.status for r in rows}
