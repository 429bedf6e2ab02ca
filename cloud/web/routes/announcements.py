"""お知らせ配信: compose, target, schedule; delivery per household."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import ColumnElement, select

from cloud.auth.roles import Capability
from cloud.models import Household, Municipality
from cloud.models.staff import Announcement
from cloud.web.broadcast import (
    Delivery,
    announcement_deliveries,
    delivery_counts,
    households_of,
    send_announcement,
)
from cloud.web.deps import Ctx, needs, not_found
from cloud.web.forms import FieldError, local_datetime, required_text
from cloud.web.render import page, templates
from cloud.web.route_helpers import heartbeat_stale, record_action
from cloud.web.scoping import area_options, parse_area, visible_household_ids

router = APIRouter()

TEXT_MAX = 400
LIST_LIMIT = 50
CHOOSABLE_LIMIT = 500


def _visible(ctx: Ctx) -> ColumnElement[bool]:
    return ctx.scope.sent_to_area_filter(Announcement.municipality_id, Announcement.office_id)


def _announcements_in_scope(ctx: Ctx) -> list[Announcement]:
    query = (
        select(Announcement)
        .where(_visible(ctx))
        .order_by(Announcement.created_at.desc())
        .limit(LIST_LIMIT)
    )
    return list(ctx.db.scalars(query))


def _choosable(ctx: Ctx) -> list[Household]:
    return list(
        ctx.db.scalars(
            select(Household)
            .where(ctx.scope.household_filter(), Household.active.is_(True))
            .order_by(Household.address)
            .limit(CHOOSABLE_LIMIT)
        )
    )


def _form(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    variables: dict[str, Any] = {
        "announcements": _announcements_in_scope(ctx),
        "areas": area_options(ctx),
        "households": _choosable(ctx),
        "errors": {},
        "values": {},
        "sent": ctx.request.query_params.get("sent"),
        **extra,
    }
    return page(ctx, "announcements.html", status=status, **variables)


@router.get("/announcements")
def announcements(ctx: Ctx = needs(Capability.ANNOUNCE)) -> Response:
    return _form(ctx)


@router.post("/announcements")
def send(ctx: Ctx = needs(Capability.ANNOUNCE)) -> Response:
    assert ctx.user is not None
    try:
        text = required_text(ctx.form, "text", TEXT_MAX, multiline=True)
        area = parse_area(ctx, ctx.form.get("area", ""))
        if area is None:
            raise FieldError("area", "err_invalid_target")
        municipality = ctx.db.get(Municipality, area[0])
        zone = municipality.timezone if municipality else "Asia/Tokyo"
        play_at = local_datetime(ctx.form.get("when", ""), zone, ctx.now)
        chosen: list[str] | None = None
        target_kind = "office" if area[1] else "municipality"
        if ctx.form.get("target") == "households":
            chosen = ctx.form_list("households")
            target_kind = "households"
            if not chosen:
                raise FieldError("households", "err_no_households")
        targets = households_of(ctx.db, area[0], area[1], chosen)
        visible = visible_household_ids(ctx)
        if visible is not None:
            allowed = set(visible)
            targets = [h for h in targets if h.id in allowed]
        if not targets:
            raise FieldError("households", "err_no_households")
    except FieldError as exc:
        return _form(ctx, 422, errors={exc.field: exc.key}, values=dict(ctx.form))
    announcement = send_announcement(
        ctx.db,
        municipality_id=area[0],
        office_id=area[1],
        target_kind=target_kind,
        households=targets,
        text=text,
        play_at=play_at,
        by=ctx.user.email,
        now=ctx.now,
    )
    record_action(
        ctx,
        "announcement.send",
        target_type="announcement",
        target_id=announcement.id,
        municipality_id=area[0],
        detail={"households": len(targets), "target": target_kind},
    )
    return RedirectResponse(f"/announcements/{announcement.id}?sent=1", status_code=303)


@router.get("/announcements/{announcement_id}")
def announcement_detail(announcement_id: str, ctx: Ctx = needs(Capability.ANNOUNCE)) -> Response:
    announcement = _scoped_announcement(ctx, announcement_id)
    deliveries = _deliveries(ctx, announcement)
    return page(
        ctx,
        "announcement.html",
        announcement=announcement,
        deliveries=deliveries,
        counts=delivery_counts(deliveries),
        sent=ctx.request.query_params.get("sent"),
    )


@router.get("/announcements/{announcement_id}/tally")
def announcement_tally(announcement_id: str, ctx: Ctx = needs(Capability.ANNOUNCE)) -> Response:
    """The delivery page polls this, as the safety-check page polls its tally."""
    deliveries = _deliveries(ctx, _scoped_announcement(ctx, announcement_id))
    html = templates.get_template("_delivery_rows.html").render(
        ctx.template_vars(deliveries=deliveries)
    )
    return JSONResponse(
        {"counts": delivery_counts(deliveries), "html": html},
        headers={"Cache-Control": "no-store"},
    )


def _deliveries(ctx: Ctx, announcement: Announcement) -> list[Delivery]:
    return announcement_deliveries(
        ctx.db, announcement, visible_household_ids(ctx), ctx.now, heartbeat_stale(ctx)
    )


def _scoped_announcement(ctx: Ctx, announcement_id: str) -> Announcement:
    announcement = ctx.db.scalar(
        select(Announcement).where(Announcement.id == announcement_id, _visible(ctx))
    )
    if announcement is None:
        raise not_found()
    return announcement
