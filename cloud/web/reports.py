"""Monthly municipality report: per office households, response rate, incidents by cause,
time to acknowledge. Pure aggregation on top of a few grouped queries."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cloud.escalation.chain import CAUSES
from cloud.models import Checkin, Household, Incident, PostOffice

REPORT_ZONE = "Asia/Tokyo"


@dataclass
class OfficeMonth:
    office: PostOffice
    households: int = 0
    answered: int = 0
    expected: int = 0
    incidents: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CAUSES})
    ack_minutes: list[float] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        """Answered slots over slots that should have been answered (a report of no
        response and a missed deadline with a dead gateway both count as not answered)."""
        return self.answered / self.expected if self.expected else None

    @property
    def median_ack_min(self) -> float | None:
        return round(statistics.median(self.ack_minutes), 1) if self.ack_minutes else None

    @property
    def incident_total(self) -> int:
        return sum(self.incidents.values())


def month_bounds(
    year: int, month: int, zone: str = REPORT_ZONE
) -> tuple[date, date, datetime, datetime]:
    first = date(year, month, 1)
    after = date(year + (month == 12), month % 12 + 1, 1)
    tz = ZoneInfo(zone)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(after, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return first, after, start, end


def monthly_report(
    session: Session, office_filter: ColumnElement[bool], year: int, month: int
) -> list[OfficeMonth]:
    first, after, start, end = month_bounds(year, month)
    offices = {
        o.id: OfficeMonth(o)
        for o in session.scalars(select(PostOffice).where(office_filter).order_by(PostOffice.name))
    }
    if not offices:
        return []
    ids = list(offices)
    for office_id, count in session.execute(
        select(Household.office_id, func.count())
        .where(Household.office_id.in_(ids), Household.active.is_(True))
        .group_by(Household.office_id)
    ):
        offices[office_id].households = count
    for office_id, status, count in session.execute(
        select(Household.office_id, Checkin.status, func.count())
        .join(Household, Checkin.household_id == Household.id)
        .where(Household.office_id.in_(ids), Checkin.slot_date >= first, Checkin.slot_date < after)
        .group_by(Household.office_id, Checkin.status)
    ):
        offices[office_id].expected += count
        if status == "answered":
            offices[office_id].answered += count
    for office_id, cause, opened, acked in session.execute(
        select(Household.office_id, Incident.cause, Incident.opened_at, Incident.acknowledged_at)
        .join(Household, Incident.household_id == Household.id)
        .where(Household.office_id.in_(ids), Incident.opened_at >= start, Incident.opened_at < end)
    ):
        row = offices[office_id]
        row.incidents[cause] = row.incidents.get(cause, 0) + 1
        if cause == "gateway_offline":
            row.expected += 1  # a slot nobody could be asked about: not answered
        if acked is not None:
            row.ack_minutes.append((acked - opened).total_seconds() / 60)
    return list(offices.values())
