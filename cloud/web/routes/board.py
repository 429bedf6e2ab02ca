"""Today board: every household of the office with today's slots and gateway/device health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cloud.api.deps import state
from cloud.auth.roles import Capability
from cloud.models import Checkin, Gateway, Household
from cloud.schedule import SlotSpec, local_date_of, slot_deadline
from cloud.web.deps import Ctx, needs
from cloud.web.render import page
from cloud.web.scoping import offices_in_scope, selected_office

router = APIRouter()

BATTERY_LOW_PCT = 20


@dataclass
class SlotStatus:
    name: str
    time: str
    status: str  # answered | waiting | missed | paused
    intent: str | None = None
    at: datetime | None = None


@dataclass
class GatewayHealth:
    status: str  # online | offline | none
    last_heartbeat_at: datetime | None = None
    battery_low: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)


@dataclass
class BoardRow:
    household: Household
    slots: list[SlotStatus]
    gateway: GatewayHealth

    @property
    def problem(self) -> bool:
        return (
            any(s.status == "missed" or s.intent == "unwell" for s in self.slots)
            or self.gateway.status != "online"
            or bool(self.gateway.battery_low or self.gateway.silent)
        )


def slot_status(
    spec: SlotSpec, checkin: Checkin | None, paused: bool, now: datetime, zone: str
) -> SlotStatus:
    """Pure: what one slot looks like today."""
    if checkin is not None and checkin.status == "answered":
        return SlotStatus(spec.name, spec.time, "answered", checkin.intent, checkin.occurred_at)
    if checkin is not None:
        return SlotStatus(spec.name, spec.time, "missed", at=checkin.occurred_at)
    if paused:
        return SlotStatus(spec.name, spec.time, "paused")
    deadline = slot_deadline(spec, local_date_of(now, zone), ZoneInfo(zone))
    return SlotStatus(spec.name, spec.time, "missed" if now > deadline.deadline else "waiting")


def gateway_health(gateways: list[Gateway], now: datetime, stale: timedelta) -> GatewayHealth:
    """Pure: health of the household's newest working gateway from its last heartbeat."""
    live = [g for g in gateways if g.revoked_at is None]
    if not live:
        return GatewayHealth("none")
    gateway = max(live, key=lambda g: g.last_heartbeat_at or g.enrolled_at)
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
    query = (
        select(Household)
        .where(ctx.scope.household_filter(), Household.active.is_(True))
        .options(
            selectinload(Household.residents),
            selectinload(Household.slots),
            selectinload(Household.pauses),
        )
    )
    if office_id:
        query = query.where(Household.office_id == office_id)
    households = list(ctx.db.scalars(query))
    today = {h.id: local_date_of(ctx.now, h.timezone) for h in households}
    checkins: dict[tuple[str, str], Checkin] = {}
    gateways: dict[str, list[Gateway]] = {}
    if households:
        scoped = select(Household.id).where(ctx.scope.household_filter())
        days = set(today.values())
        for checkin in ctx.db.scalars(
            select(Checkin).where(Checkin.slot_date.in_(days), Checkin.household_id.in_(scoped))
        ):
            if today.get(checkin.household_id) == checkin.slot_date:
                checkins[(checkin.household_id, checkin.slot)] = checkin
        for gateway in ctx.db.scalars(select(Gateway).where(Gateway.household_id.in_(scoped))):
            gateways.setdefault(gateway.household_id, []).append(gateway)
    stale = timedelta(seconds=state(ctx.request).settings.heartbeat_stale_s)
    rows = []
    for household in households:
        paused = any(
            p.starts_at <= ctx.now and (p.ends_at is None or ctx.now < p.ends_at)
            for p in household.pauses
        )
        slots = [
            slot_status(
                SlotSpec(s.name, s.time, s.window_min, s.grace_min),
                checkins.get((household.id, s.name)) or checkins.get((household.id, s.time)),
                paused,
                ctx.now,
                household.timezone,
            )
            for s in household.slots
        ]
        health = gateway_health(gateways.get(household.id, []), ctx.now, stale)
        rows.append(BoardRow(household, slots, health))
    rows.sort(key=lambda r: (not r.problem, r.household.address or "", r.household.id))
    return rows


@router.get("/board")
def board(ctx: Ctx = needs(Capability.DESK)) -> Response:
    office_id = selected_office(ctx)
    rows = load_board(ctx, office_id)
    variables: dict[str, Any] = {
        "rows": rows,
        "offices": offices_in_scope(ctx),
        "office_id": office_id,
        "problems": sum(1 for r in rows if r.problem),
    }
    return page(ctx, "board.html", **variables)
