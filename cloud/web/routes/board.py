"""Today board: every household of the office with today's slots and gateway/device health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import or_, select

from cloud.auth.roles import Capability
from cloud.models import Checkin, Gateway, Household, Pause, Resident, ScheduleSlot
from cloud.schedule import SlotSpec, local_date_of, slot_deadline
from cloud.web.deps import Ctx, needs
from cloud.web.render import page
from cloud.web.route_helpers import heartbeat_stale, page_number
from cloud.web.scoping import offices_in_scope, selected_office
from mimamori_rules import schedule as rules

router = APIRouter()

BATTERY_LOW_PCT = 20
BOARD_PAGE_SIZE = 250


@dataclass
class SlotStatus:
    name: str
    time: str
    status: str  # answered | waiting | missed | paused | unwatched (no gateway: 未設置)
    intent: str | None = None
    at: datetime | None = None


@dataclass
class GatewayHealth:
    status: str  # online | offline | none
    last_heartbeat_at: datetime | None = None
    battery_low: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)


@dataclass
class HouseholdLine:
    id: str
    address: str | None
    office_id: str
    names: list[str] = field(default_factory=list)


@dataclass
class BoardRow:
    household: HouseholdLine
    slots: list[SlotStatus]
    gateway: GatewayHealth
    problem: bool = field(init=False)

    def __post_init__(self) -> None:
        self.problem = (
            any(s.status == "missed" or s.intent == "unwell" for s in self.slots)
            or self.gateway.status == "offline"
            or bool(self.gateway.battery_low or self.gateway.silent)
        )


def slot_status(
    spec: SlotSpec,
    checkin: Any | None,
    paused: bool,
    now: datetime,
    zone: str,
    watched: bool = True,
) -> SlotStatus:
    """Pure: what one slot looks like today (`checkin`: status, intent, occurred_at).

    Late means what the desk means (rules.is_late at the slot's deadline): a gateway's
    no_response before the deadline is still "waiting", as no incident is open yet. A
    household without a gateway (`watched` False, 未設置) is not checked at all."""
    if checkin is not None and checkin.status == "answered":
        return SlotStatus(spec.name, spec.time, "answered", checkin.intent, checkin.occurred_at)
    if not watched:
        return SlotStatus(spec.name, spec.time, "unwatched")
    if paused:
        return SlotStatus(spec.name, spec.time, "paused")
    deadline = _todays_deadline(spec, zone, _local_day(now, zone))
    if rules.is_late(deadline, now):
        return SlotStatus(spec.name, spec.time, "missed", at=checkin and checkin.occurred_at)
    return SlotStatus(spec.name, spec.time, "waiting")


# Thousands of households share a handful of slot times and one zone: compute each deadline
# once, not once per household (it was a third of the board's time at 2,000 households).
@lru_cache(maxsize=4096)
def _todays_deadline(spec: SlotSpec, zone: str, day: date) -> datetime:
    return slot_deadline(spec, day, ZoneInfo(zone)).deadline


@lru_cache(maxsize=256)
def _local_day(now: datetime, zone: str) -> date:
    return local_date_of(now, zone)


def current_gateway(gateways: list[Any]) -> Any | None:
    """Pure: the household's working gateway that was heard from last (a replaced one that
    was never revoked stops sending heartbeats), or None. Health and device lists both
    read this one, so they never describe two different boxes."""
    live = [g for g in gateways if g.revoked_at is None]
    return max(live, key=lambda g: g.last_heartbeat_at or g.enrolled_at) if live else None


def gateway_health(gateways: list[Any], now: datetime, stale: timedelta) -> GatewayHealth:
    """Pure: health of `current_gateway` from its last heartbeat (`gateways`: rows or objects
    with revoked_at, enrolled_at, last_heartbeat_at, last_heartbeat)."""
    gateway = current_gateway(gateways)
    if gateway is None:
        return GatewayHealth("none")
    last = gateway.last_heartbeat_at
    health = GatewayHealth("online" if last and now - last <= stale else "offline", last)
    for device in (gateway.last_heartbeat or {}).get("devices") or []:
        name = str(device.get("device", "?"))
        battery = device.get("battery_pct")
        if isinstance(battery, int) and battery < BATTERY_LOW_PCT:
            health.battery_low.append(name)
        if device.get("silent"):
            health.silent.append(name)
    return health


def load_board(ctx: Ctx, office_id: str | None) -> list[BoardRow]:
    """Plain column rows through Core, not ORM objects: at 2,000 households the ORM layer
    would be most of the page's time. Six queries whatever the size."""
    conn = ctx.db.connection()
    where = [ctx.scope.household_filter(), Household.active.is_(True)]
    if office_id:
        where.append(Household.office_id == office_id)
    scoped = select(Household.id).where(*where)
    columns = (Household.id, Household.address, Household.office_id, Household.timezone)
    homes = {
        row.id: (HouseholdLine(row.id, row.address, row.office_id), row.timezone)
        for row in conn.execute(select(*columns).where(*where))
    }
    if not homes:
        return []
    for row in conn.execute(
        select(Resident.household_id, Resident.name).where(Resident.household_id.in_(scoped))
    ):
        homes[row.household_id][0].names.append(row.name)
    slots: dict[str, list[SlotSpec]] = {}
    specs: dict[tuple[str, str, int, int, tuple[int, ...]], SlotSpec] = {}
    for row in conn.execute(
        select(
            ScheduleSlot.household_id,
            ScheduleSlot.name,
            ScheduleSlot.time,
            ScheduleSlot.window_min,
            ScheduleSlot.grace_min,
            ScheduleSlot.reask_offsets_min,
        )
        .where(ScheduleSlot.household_id.in_(scoped))
        .order_by(ScheduleSlot.time)
    ):
        reasks = tuple(row.reask_offsets_min or ())  # a late re-ask moves the deadline
        key = (row.name, row.time, row.window_min, row.grace_min, reasks)
        spec = specs.get(key)
        if spec is None:  # a few distinct slot settings shared by thousands of households
            spec = specs[key] = SlotSpec(*key)
        slots.setdefault(row.household_id, []).append(spec)
    paused = set(
        conn.scalars(
            select(Pause.household_id).where(
                Pause.household_id.in_(scoped),
                Pause.starts_at <= ctx.now,
                or_(Pause.ends_at.is_(None), Pause.ends_at > ctx.now),
            )
        )
    )
    today = {zone: local_date_of(ctx.now, zone) for _, zone in homes.values()}
    checkins: dict[tuple[str, str], Any] = {}
    for row in conn.execute(
        select(
            Checkin.household_id,
            Checkin.slot,
            Checkin.slot_date,
            Checkin.status,
            Checkin.intent,
            Checkin.occurred_at,
        ).where(Checkin.slot_date.in_(set(today.values())), Checkin.household_id.in_(scoped))
    ):
        if today[homes[row.household_id][1]] == row.slot_date:
            checkins[(row.household_id, row.slot)] = row
    gateways: dict[str, list[Any]] = {}
    for row in conn.execute(
        select(
            Gateway.household_id,
            Gateway.revoked_at,
            Gateway.enrolled_at,
            Gateway.last_heartbeat_at,
            Gateway.last_heartbeat,
        ).where(Gateway.household_id.in_(scoped), Gateway.revoked_at.is_(None))
    ):
        gateways.setdefault(row.household_id, []).append(row)
    stale = heartbeat_stale(ctx)
    rows = []
    for household_id, (line, zone) in homes.items():
        health = gateway_health(gateways.get(household_id, []), ctx.now, stale)
        statuses = [
            slot_status(
                spec,
                checkins.get((household_id, spec.name)) or checkins.get((household_id, spec.time)),
                household_id in paused,
                ctx.now,
                zone,
                watched=health.status != "none",
            )
            for spec in slots.get(household_id, [])
        ]
        rows.append(BoardRow(line, statuses, health))
    rows.sort(key=lambda r: (not r.problem, r.household.address or "", r.household.id))
    return rows


@router.get("/board")
def board(ctx: Ctx = needs(Capability.DESK)) -> Response:
    office_id = selected_office(ctx)
    rows = load_board(ctx, office_id)
    # Problems sort first, so page 1 always holds what needs attention; nobody scrolls
    # 2,000 healthy rows, and rendering them all would dominate the page's time.
    pages = max(1, -(-len(rows) // BOARD_PAGE_SIZE))
    current = page_number(ctx.request.query_params.get("page"), pages)
    shown = rows[(current - 1) * BOARD_PAGE_SIZE : current * BOARD_PAGE_SIZE]
    variables: dict[str, Any] = {
        "rows": shown,
        "total": len(rows),
        "offices": offices_in_scope(ctx),
        "office_id": office_id,
        "problems": sum(1 for r in rows if r.problem),
        "page": current,
        "pages": pages,
    }
    return page(ctx, "board.html", **variables)
