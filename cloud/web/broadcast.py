"""Announcements and safety checks: fan one message out as gateway Commands, and tally the
answers from the events the gateways send back (announcement.*, safety_check.answered).

Nothing here hooks into event ingest: the tallies are read from the event table, so the
gateway API stays the cloud core's and a replayed event can never be counted twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.models import Command, EventRecord, Gateway, Household, PostOffice
from cloud.models.staff import (
    Announcement,
    AnnouncementDelivery,
    SafetyCheck,
    SafetyCheckResult,
)
from mimamori_wire import v1

ANNOUNCEMENT_TTL = timedelta(days=1)
SAFETY_CHECK_TTL = timedelta(hours=12)
SAFETY_STATUSES = ("safe", "needs_help", "no_answer", "gateway_offline", "not_installed", "waiting")


def households_of(
    session: Session, municipality_id: str, office_id: str | None, chosen: list[str] | None
) -> list[Household]:
    query = (
        select(Household)
        .join(PostOffice, Household.office_id == PostOffice.id)
        .where(PostOffice.municipality_id == municipality_id, Household.active.is_(True))
    )
    if office_id:
        query = query.where(Household.office_id == office_id)
    if chosen is not None:
        query = query.where(Household.id.in_(chosen))
    return list(session.scalars(query))


def _command_per_household(
    session: Session,
    households: list[Household],
    payload: v1.CommandPayload,
    now: datetime,
    expires_at: datetime,
) -> list[Command]:
    """One command per household, flushed once: the per-household rows need the ids, and a
    flush per household would cost a round trip each for a town-wide safety check."""
    kind = v1.command_kind(payload)
    body = payload.model_dump(mode="json")
    commands = [
        Command(
            household_id=household.id,
            kind=kind.value,
            payload=dict(body),
            issued_at=now,
            expires_at=expires_at,
        )
        for household in households
    ]
    session.add_all(commands)
    session.flush()
    return commands


def send_announcement(
    session: Session,
    *,
    municipality_id: str,
    office_id: str | None,
    target_kind: str,
    households: list[Household],
    text: str,
    play_at: datetime,
    by: str,
    now: datetime,
) -> Announcement:
    """Queue the announcement for every household now, with its play time in the payload:
    the gateway holds it and speaks it at play_at even if the network is down by then."""
    announcement = Announcement(
        municipality_id=municipality_id,
        office_id=office_id,
        target_kind=target_kind,
        text=text,
        scheduled_at=play_at,
        created_by=by,
        created_at=now,
    )
    session.add(announcement)
    session.flush()
    # Not urgent: staff announcements wait for the end of quiet hours (no urgent choice yet).
    payload = v1.AnnouncementPayload(
        announcement_id=announcement.id, text=text, play_at=play_at, urgent=False
    )
    commands = _command_per_household(session, households, payload, now, play_at + ANNOUNCEMENT_TTL)
    session.add_all(
        AnnouncementDelivery(
            announcement_id=announcement.id, household_id=c.household_id, command_id=c.id
        )
        for c in commands
    )
    session.flush()
    return announcement


def start_safety_check(
    session: Session,
    *,
    municipality_id: str,
    office_id: str | None,
    title: str,
    question: str,
    households: list[Household],
    by: str,
    now: datetime,
) -> SafetyCheck:
    check = SafetyCheck(
        municipality_id=municipality_id,
        office_id=office_id,
        title=title,
        question=question,
        started_by=by,
        started_at=now,
    )
    session.add(check)
    session.flush()
    payload = v1.SafetyCheckPayload(check_id=check.id, question=question)
    commands = _command_per_household(session, households, payload, now, now + SAFETY_CHECK_TTL)
    session.add_all(
        SafetyCheckResult(check_id=check.id, household_id=c.household_id, command_id=c.id)
        for c in commands
    )
    session.flush()
    return check


@dataclass
class HouseholdAnswer:
    household: Household
    status: str
    answered_at: datetime | None = None
    transcript: str | None = None
    last_heartbeat_at: datetime | None = None


def classify_safety(
    answer_status: str | None,
    last_heartbeat_at: datetime | None,
    now: datetime,
    stale: timedelta,
    installed: bool = True,
) -> str:
    """Pure: an answer wins; a household whose gateway was never enrolled (or was revoked)
    is 「未設置」 like on the board; otherwise a stale or missing heartbeat means offline."""
    if answer_status in ("safe", "needs_help", "no_answer"):
        return answer_status
    if not installed:
        return "not_installed"
    if last_heartbeat_at is None or now - last_heartbeat_at > stale:
        return "gateway_offline"
    return "waiting"


def _latest_heartbeats(
    session: Session, household_ids: list[str]
) -> tuple[dict[str, datetime], set[str]]:
    """The latest heartbeat per household, and which households have a live gateway."""
    latest: dict[str, datetime] = {}
    installed: set[str] = set()
    for household_id, at in session.execute(
        select(Gateway.household_id, Gateway.last_heartbeat_at).where(
            Gateway.household_id.in_(household_ids), Gateway.revoked_at.is_(None)
        )
    ):
        installed.add(household_id)
        if at is not None and (household_id not in latest or at > latest[household_id]):
            latest[household_id] = at
    return latest, installed


def safety_answers(
    session: Session,
    check: SafetyCheck,
    visible: list[str] | None,
    now: datetime,
    stale: timedelta,
) -> list[HouseholdAnswer]:
    """Per targeted household (limited to `visible` ids when given): its current status."""
    query = (
        select(Household)
        .join(SafetyCheckResult, SafetyCheckResult.household_id == Household.id)
        .where(SafetyCheckResult.check_id == check.id)
        .options(selectinload(Household.residents))
    )
    if visible is not None:
        query = query.where(Household.id.in_(visible))
    households = list(session.scalars(query))
    ids = [h.id for h in households]
    answers: dict[str, EventRecord] = {}
    events = session.scalars(
        select(EventRecord)
        .where(
            EventRecord.kind == v1.EventKind.SAFETY_CHECK_ANSWERED.value,
            EventRecord.occurred_at >= check.started_at - timedelta(minutes=5),
            EventRecord.household_id.in_(
                select(SafetyCheckResult.household_id).where(SafetyCheckResult.check_id == check.id)
            ),
        )
        .order_by(EventRecord.occurred_at)
    )
    for event in events:
        if (event.payload or {}).get("check_id") == check.id:
            answers[event.household_id] = event  # the latest answer counts
    heartbeats, installed = _latest_heartbeats(session, ids)
    result = []
    for household in households:
        event = answers.get(household.id)
        payload = event.payload if event else {}
        status = classify_safety(
            payload.get("status"),
            heartbeats.get(household.id),
            now,
            stale,
            installed=household.id in installed,
        )
        result.append(
            HouseholdAnswer(
                household,
                status,
                event.occurred_at if event else None,
                payload.get("transcript"),
                heartbeats.get(household.id),
            )
        )
    order = {
        s: i
        for i, s in enumerate(
            ("needs_help", "gateway_offline", "not_installed", "no_answer", "waiting", "safe")
        )
    }
    result.sort(key=lambda a: (order[a.status], a.household.address or ""))
    return result


def tally(answers: list[HouseholdAnswer]) -> dict[str, int]:
    counts = Counter(a.status for a in answers)
    return {status: counts.get(status, 0) for status in SAFETY_STATUSES}


@dataclass
class Delivery:
    household: Household
    delivered_at: datetime | None
    played_at: datetime | None
    heard_at: datetime | None
    offline: bool


def announcement_deliveries(
    session: Session,
    announcement: Announcement,
    visible: list[str] | None,
    now: datetime,
    stale: timedelta,
) -> list[Delivery]:
    query = (
        select(AnnouncementDelivery, Household, Command)
        .join(Household, AnnouncementDelivery.household_id == Household.id)
        .join(Command, AnnouncementDelivery.command_id == Command.id, isouter=True)
        .where(AnnouncementDelivery.announcement_id == announcement.id)
        .options(selectinload(Household.residents))
    )
    if visible is not None:
        query = query.where(Household.id.in_(visible))
    rows = session.execute(query).all()
    played: dict[str, datetime] = {}
    heard: dict[str, datetime] = {}
    kinds = (v1.EventKind.ANNOUNCEMENT_PLAYED.value, v1.EventKind.ANNOUNCEMENT_HEARD.value)
    for event in session.scalars(
        select(EventRecord).where(
            EventRecord.kind.in_(kinds),
            EventRecord.occurred_at >= announcement.created_at - timedelta(minutes=5),
            EventRecord.household_id.in_(
                select(AnnouncementDelivery.household_id).where(
                    AnnouncementDelivery.announcement_id == announcement.id
                )
            ),
        )
    ):
        if (event.payload or {}).get("announcement_id") != announcement.id:
            continue
        target = played if event.kind == kinds[0] else heard
        target.setdefault(event.household_id, event.occurred_at)
    heartbeats, _installed = _latest_heartbeats(session, [h.id for _, h, _ in rows])
    result = []
    for _, household, command in rows:
        last = heartbeats.get(household.id)
        result.append(
            Delivery(
                household,
                command.delivered_at if command else None,
                played.get(household.id),
                heard.get(household.id),
                last is None or now - last > stale,
            )
        )
    result.sort(key=lambda d: (d.played_at is not None, d.household.address or ""))
    return result


def delivery_counts(deliveries: list[Delivery]) -> dict[str, int]:
    """The delivery page's tally: households targeted, commands fetched, played, heard."""
    return {
        "total": len(deliveries),
        "delivered": sum(d.delivered_at is not None for d in deliveries),
        "played": sum(d.played_at is not None for d in deliveries),
        "heard": sum(d.heard_at is not None for d in deliveries),
    }
