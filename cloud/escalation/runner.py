"""The escalation pass: claim the incidents whose next step is due, run the step, commit.

Claiming: due incidents are selected with FOR UPDATE SKIP LOCKED on PostgreSQL (workers never
wait on each other's rows), then moved on with a compare-and-set UPDATE (`WHERE next_step =
<old>`), which alone is enough on SQLite, where BEGIN IMMEDIATE already serialises writers.
An incident whose CAS fails was taken by another worker: skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.clock import Clock
from cloud.core.logging import log_event
from cloud.db import skip_locked, transaction
from cloud.escalation.chain import skip_missed_reminders, step_at
from cloud.escalation.steps import Notifier, run_step
from cloud.models import Household, Incident

log = logging.getLogger("mimamori.escalation")

BATCH = 500


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
            for incident in due:
                ran += _advance(session, notifier, incident, now)


def _advance(session: Session, notifier: Notifier, incident: Incident, now: datetime) -> int:
    base = incident.deadline_at or incident.opened_at
    claimed = incident.next_step
    index = skip_missed_reminders(incident.chain, base, claimed, now)
    step = step_at(incident.chain, base, index)
    following = step_at(incident.chain, base, index + 1)
    moved = session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.next_step == claimed, Incident.state == "open")
        .values(next_step=index + 1, next_step_at=following.due_at if following else None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1 or step is None:
        return 0
    session.refresh(incident)
    household = session.get_one(Household, incident.household_id)
    run_step(session, notifier, incident, household, step, now)
    log_event(
        log,
        "escalation.step",
        incident_id=incident.id,
        household_id=household.id,
        cause=incident.cause,
        step=index,
        action=step.action,
        skipped_reminders=index - claimed,
        late_s=round((now - step.due_at).total_seconds(), 1),
    )
    return 1
