"""Retention: the worker forgets, rule by rule, what nothing needs any more.

Rules (spans are settings; defaults and reasons in docs/operations.md and docs/privacy.md):

- heartbeats: history rows older than the span (the gateway row keeps the latest heartbeat).
- events: older than the span, except safety-check answers and announcement receipts (the
  dashboard's check and announcement pages read them for as long as those exist) and the
  source event of an incident not yet resolved (open or acknowledged).
- transcripts: events older than this shorter span lose the words the resident spoke (the
  payload's "transcript" and the text of a trouble request); the event itself stays.
- mail: sent or failed outbox mail older than the span, unless its incident is unresolved.
  Mail still pending (queued, leased by a sender, waiting for a retry) is never touched.
- notifications: those of incidents resolved longer ago than the span; never of unresolved ones.

Every rule works alike: batches of at most `batch` rows, one short transaction each (SQLite
has a single writer; one long delete would hold it), at most `max_batches` per rule per pass,
so a backlog after an upgrade drains over several passes instead of one burst of writes.
Each batch finds its rows with an index seek (migration 0004) or, where ids follow arrival
(heartbeats, notifications), by walking the head of the primary key; a pass costs what it
removes, not what the table holds. What to keep is decided by the pure part at the top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, literal_column, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.core import metrics
from cloud.core.config import Settings
from cloud.db import transaction
from cloud.models import EventRecord, HeartbeatRecord, Incident, Notification, OutboxMail
from cloud.models.events import SPEECH_PRESENT
from mimamori_wire import v1

PRUNE_BATCH = 1000
# Bounds one rule's share of a pass; the rest waits for the next pass.
MAX_BATCHES_PER_PASS = 50

# --- pure decisions -------------------------------------------------------------------------

# Read by the safety-check and announcement pages for as long as the check or announcement
# exists (cloud/web/broadcast.py), so they are kept with it: one row per household and
# broadcast. Their transcripts are still removed after the transcript span.
KEPT_WITH_BROADCAST = frozenset(
    {
        v1.EventKind.SAFETY_CHECK_ANSWERED.value,
        v1.EventKind.ANNOUNCEMENT_PLAYED.value,
        v1.EventKind.ANNOUNCEMENT_HEARD.value,
    }
)
PRUNABLE_EVENT_KINDS = tuple(
    sorted(kind.value for kind in v1.EventKind if kind.value not in KEPT_WITH_BROADCAST)
)
# Outbox states no sender will touch again ("pending" covers queued, leased and retrying).
FINISHED_MAIL = ("sent", "failed", "cancelled")
# Payload keys holding words the resident spoke, beyond "transcript" (any kind).
_SPOKEN_TEXT = {v1.EventKind.REQUEST_TROUBLE.value: ("text",)}


def without_speech(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload minus what the resident said; everything else (intent, slot, ...) stays.
    Must drop every key that SPEECH_PRESENT tests, or the row would be blanked again."""
    spoken = {"transcript", *_SPOKEN_TEXT.get(kind, ())}
    return {key: value for key, value in payload.items() if key not in spoken}


def notification_expired(state: str, resolved_at: datetime | None, cutoff: datetime) -> bool:
    """A notification goes only with an incident resolved before the cutoff."""
    return state == "resolved" and resolved_at is not None and resolved_at < cutoff


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept; field names are the rule names."""

    heartbeats: timedelta
    events: timedelta
    transcripts: timedelta
    mail: timedelta
    notifications: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            heartbeats=timedelta(days=settings.heartbeat_retention_days),
            events=timedelta(days=settings.event_retention_days),
            transcripts=timedelta(days=settings.transcript_retention_days),
            mail=timedelta(days=settings.mail_retention_days),
            notifications=timedelta(days=settings.notification_retention_days),
        )

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Rule -> rows older than this go (in pass order)."""
        return {f.name: now - getattr(self, f.name) for f in fields(self)}


@dataclass
class RetentionCounts:
    """Rows removed by one pass, per rule (transcripts: events whose speech was removed)."""

    heartbeats: int = 0
    events: int = 0
    transcripts: int = 0
    mail: int = 0
    notifications: int = 0

    def __bool__(self) -> bool:
        return any(asdict(self).values())

    def __str__(self) -> str:
        return (
            f"heartbeats_pruned={self.heartbeats} events_pruned={self.events} "
            f"transcripts_blanked={self.transcripts} mail_pruned={self.mail} "
            f"notifications_pruned={self.notifications}"
        )


# --- database steps: one batch each, inside the caller's transaction ------------------------

# -> (rows removed or blanked, whether another batch may find more)
Step = Callable[[Session], tuple[int, bool]]


def _delete(session: Session, entity: Any, key: Any, ids: list[Any]) -> int:
    if not ids:
        return 0
    result = session.execute(
        delete(entity).where(key.in_(ids)).execution_options(synchronize_session=False)
    )
    return result.rowcount  # another worker may have removed some of them first


# Not yet resolved (open or acknowledged), as a literal rather than a bound parameter so
# SQLite, too, reads only the partial index of unresolved incidents
# (uq_incidents_open_household_cause), however many resolved ones have piled up.
_UNRESOLVED = Incident.state != literal_column("'resolved'")


def _heartbeats(cutoff: datetime, batch: int) -> Step:
    def step(session: Session) -> tuple[int, bool]:
        head = session.execute(
            select(HeartbeatRecord.id, HeartbeatRecord.received_at)
            .order_by(HeartbeatRecord.id)
            .limit(batch)
        ).all()
        old = [row.id for row in head if row.received_at < cutoff]
        # The head reached a young row: everything after it is younger still.
        return _delete(session, HeartbeatRecord, HeartbeatRecord.id, old), len(old) == batch

    return step


def _events(cutoff: datetime, batch: int) -> Step:
    still_needed = select(Incident.source_event_id).where(
        _UNRESOLVED, Incident.source_event_id.is_not(None)
    )

    def step(session: Session) -> tuple[int, bool]:
        ids = list(
            session.scalars(
                select(EventRecord.id)
                .where(
                    EventRecord.kind.in_(PRUNABLE_EVENT_KINDS),
                    EventRecord.occurred_at < cutoff,
                    EventRecord.id.not_in(still_needed),
                )
                .limit(batch)
            )
        )
        return _delete(session, EventRecord, EventRecord.id, ids), len(ids) == batch

    return step


def speech_present(dialect: str) -> ColumnElement[bool]:
    # Parenthesised: text() is not grouped when ANDed with other conditions.
    return text(f"({SPEECH_PRESENT[dialect]})")  # type: ignore[return-value]


# A Core executemany, not the ORM's bulk update by key: that one raises when another worker
# deleted one of the rows meanwhile, and a row that is gone needs no blanking.
_BLANK = (
    update(EventRecord.__table__)
    .where(EventRecord.__table__.c.id == bindparam("event_id"))
    .values(payload=bindparam("speechless"))
)


def _transcripts(cutoff: datetime, batch: int) -> Step:
    def step(session: Session) -> tuple[int, bool]:
        rows = session.execute(
            select(EventRecord.id, EventRecord.kind, EventRecord.payload)
            .where(speech_present(session.get_bind().dialect.name))
            .where(EventRecord.occurred_at < cutoff)
            .limit(batch)
        ).all()
        if rows:
            session.execute(
                _BLANK,
                [{"event_id": r.id, "speechless": without_speech(r.kind, r.payload)} for r in rows],
            )
        return len(rows), len(rows) == batch

    return step


def _mail(cutoff: datetime, batch: int) -> Step:
    def step(session: Session) -> tuple[int, bool]:
        ids = list(
            session.scalars(
                select(OutboxMail.id)
                .where(
                    OutboxMail.status.in_(FINISHED_MAIL),
                    OutboxMail.created_at < cutoff,
                    or_(
                        OutboxMail.incident_id.is_(None),
                        OutboxMail.incident_id.not_in(select(Incident.id).where(_UNRESOLVED)),
                    ),
                )
                .limit(batch)
            )
        )
        return _delete(session, OutboxMail, OutboxMail.id, ids), len(ids) == batch

    return step


def _notifications(cutoff: datetime, batch: int) -> Step:
    after = 0  # walks past the kept rows (open incidents) within one pass

    def step(session: Session) -> tuple[int, bool]:
        nonlocal after
        rows = session.execute(
            select(Notification.id, Notification.created_at, Incident.state, Incident.resolved_at)
            .join(Incident, Incident.id == Notification.incident_id)
            .where(Notification.id > after)
            .order_by(Notification.id)
            .limit(batch)
        ).all()
        expired = [r.id for r in rows if notification_expired(r.state, r.resolved_at, cutoff)]
        if not rows:
            return 0, False
        after = rows[-1].id
        # Ids follow arrival: once the walk reaches a young row, nothing later can expire.
        more = len(rows) == batch and rows[-1].created_at < cutoff
        return _delete(session, Notification, Notification.id, expired), more

    return step


STEPS: dict[str, Callable[[datetime, int], Step]] = {
    "heartbeats": _heartbeats,
    "events": _events,
    "transcripts": _transcripts,
    "mail": _mail,
    "notifications": _notifications,
}


def prune(
    sessions: sessionmaker[Session],
    rule: str,
    cutoff: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_BATCHES_PER_PASS,
) -> int:
    """Apply one rule to rows older than `cutoff`; returns how many rows it removed."""
    step = STEPS[rule](cutoff, batch)
    done = 0
    for _ in range(max_batches):
        with transaction(sessions) as session:
            removed, more = step(session)
        done += removed
        if not more:
            break
    metrics.RETENTION_ROWS.labels(rule).inc(done)
    return done


@dataclass
class RetentionPruner:
    """Runs every rule of the policy, at most once per `every` (by the injected clock)."""

    policy: RetentionPolicy
    every: timedelta
    batch: int = PRUNE_BATCH
    max_batches: int = MAX_BATCHES_PER_PASS
    last_run: datetime | None = None

    def run(self, sessions: sessionmaker[Session], now: datetime) -> RetentionCounts:
        if self.last_run is not None and now - self.last_run < self.every:
            return RetentionCounts()
        self.last_run = now
        done = {
            rule: prune(sessions, rule, cutoff, batch=self.batch, max_batches=self.max_batches)
            for rule, cutoff in self.policy.cutoffs(now).items()
        }
        return RetentionCounts(**done)
