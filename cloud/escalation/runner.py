"""The escalation pass: claim the incidents whose next step is due, run the steps, commit.

Claiming: due incidents are selected with FOR UPDATE SKIP LOCKED on PostgreSQL (workers never
wait on each other's rows), then moved on with a compare-and-set UPDATE (`WHERE next_step =
<old>`), which alone is enough on SQLite, where BEGIN IMMEDIATE already serialises writers.
An incident whose CAS fails was taken by another worker: skipped.

Per batch a fixed number of statements for the claim (select, one CAS UPDATE on PostgreSQL,
one query per relation the steps read); what stays per step is what the step writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from cloud.core.clock import Clock
from cloud.core.logging import log_event
from cloud.db import skip_locked, transaction
from cloud.escalation.chain import Step, skip_missed_reminders, step_at
from cloud.escalation.steps import Notifier, run_step
from cloud.models import Household, Incident, PostOffice

log = logging.getLogger("mimamori.escalation")

BATCH = 500
# What the steps read of a household, one query per relation for the whole batch.
_PRELOAD = (
    selectinload(Household.slots),
    selectinload(Household.residents),
    selectinload(Household.contacts),
    selectinload(Household.office).selectinload(PostOffice.municipality),
)


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
            due = list(session.scalars(skip_locked(stmt, session, Incident)))
            if not due:
                return ran
            ran += _run_batch(session, notifier, due, now)


@dataclass(frozen=True)
class _Move:
    incident: Incident
    claimed: int  # next_step as read: the compare-and-set value
    index: int  # the step to run (reminders missed while no worker ran collapse)
    step: Step | None
    following: Step | None


def _plan(incident: Incident, now: datetime) -> _Move:
    base = incident.deadline_at or incident.opened_at
    claimed = incident.next_step
    index = skip_missed_reminders(incident.chain, base, claimed, now)
    return _Move(
        incident,
        claimed,
        index,
        step_at(incident.chain, base, index),
        step_at(incident.chain, base, index + 1),
    )


def _run_batch(session: Session, notifier: Notifier, due: list[Incident], now: datetime) -> int:
    moves = [_plan(incident, now) for incident in due]
    moved = _advance(session, moves)
    mine = [m for m in moves if m.incident.id in moved and m.step is not None]
    households = _households(session, {m.incident.household_id for m in mine})
    for move in mine:
        incident = move.incident
        # The row holds what the CAS wrote: the object learns it without a reload or a
        # second UPDATE at flush.
        set_committed_value(incident, "next_step", move.index + 1)
        set_committed_value(
            incident, "next_step_at", move.following.due_at if move.following else None
        )
        household = households[incident.household_id]
        assert move.step is not None
        run_step(session, notifier, incident, household, move.step, now)
        log_event(
            log,
            "escalation.step",
            incident_id=incident.id,
            household_id=household.id,
            cause=incident.cause,
            step=move.index,
            action=move.step.action,
            skipped_reminders=move.index - move.claimed,
            late_s=round((now - move.step.due_at).total_seconds(), 1),
        )
    return len(mine)


def _households(session: Session, ids: set[str]) -> dict[str, Household]:
    if not ids:
        return {}
    rows = session.scalars(select(Household).where(Household.id.in_(ids)).options(*_PRELOAD))
    return {h.id: h for h in rows}


# One compare-and-set for the whole batch: incidents still open at the step we read.
_PG_ADVANCE = text(
    """
    UPDATE incidents AS i
    SET next_step = v.new_step, next_step_at = v.new_at
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:olds AS integer[]), CAST(:news AS integer[]),
        CAST(:ats AS timestamptz[])
    ) AS v(id, old_step, new_step, new_at)
    WHERE i.id = v.id AND i.next_step = v.old_step AND i.state = 'open'
    RETURNING i.id
    """
)


def _advance(session: Session, moves: list[_Move]) -> set[str]:
    """Move each incident past its step (CAS on next_step); the ids this worker moved."""
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "ids": [m.incident.id for m in moves],
            "olds": [m.claimed for m in moves],
            "news": [m.index + 1 for m in moves],
            "ats": [m.following.due_at if m.following else None for m in moves],
        }
        return set(session.scalars(_PG_ADVANCE, params))
    moved = set()
    for m in moves:  # SQLite: in-process calls, no round trips to save
        result = session.execute(
            update(Incident)
            .where(
                Incident.id == m.incident.id,
                Incident.next_step == m.claimed,
                Incident.state == "open",
            )
            .values(next_step=m.index + 1, next_step_at=m.following.due_at if m.following else None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            moved.add(m.incident.id)
    return moved
