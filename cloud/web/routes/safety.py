"""安否確認: an admin starts a check for an area; live tally; CSV export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Select, select

from cloud.auth.roles import Capability
from cloud.models import PostOffice
from cloud.models.staff import SafetyCheck
from cloud.web.broadcast import (
    HouseholdAnswer,
    households_of,
    safety_answers,
    start_safety_check,
    tally,
)
from cloud.web.csvout import csv_response
from cloud.web.deps import Ctx, needs, not_found
from cloud.web.forms import FieldError, required_text
from cloud.web.render import local, page, templates
from cloud.web.route_helpers import heartbeat_stale, record_action, staff_names
from cloud.web.scoping import area_options, parse_area, visible_household_ids

router = APIRouter()

LIST_LIMIT = 30


def _checks_in_scope(ctx: Ctx) -> Select[tuple[SafetyCheck]]:
    visible = ctx.scope.sent_to_area_filter(SafetyCheck.municipality_id, SafetyCheck.office_id)
    return select(SafetyCheck).where(visible).order_by(SafetyCheck.started_at.desc())


def _check_or_404(ctx: Ctx, check_id: str) -> SafetyCheck:
    check = ctx.db.scalar(_checks_in_scope(ctx).where(SafetyCheck.id == check_id))
    if check is None:
        raise not_found()
    return check


def _list(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    checks = list(ctx.db.scalars(_checks_in_scope(ctx).limit(LIST_LIMIT)))
    variables: dict[str, Any] = {
        "checks": checks,
        "starters": staff_names(ctx, {c.started_by for c in checks if c.started_by}),
        "areas": area_options(ctx) if ctx.can(Capability.SAFETY_START) else [],
        "errors": {},
        "values": {"question": ctx.t("safety_default_question")},
        **extra,
    }
    return page(ctx, "safety_list.html", status=status, **variables)


@router.get("/safety")
def safety_list(ctx: Ctx = needs(Capability.SAFETY_VIEW)) -> Response:
    return _list(ctx)


@router.post("/safety")
def safety_start(ctx: Ctx = needs(Capability.SAFETY_START)) -> Response:
    assert ctx.user is not None
    try:
        title = required_text(ctx.form, "title", 100)
        question = required_text(ctx.form, "question", 300, multiline=True)
        area = parse_area(ctx, ctx.form.get("area", ""))
        if area is None:
            raise FieldError("area", "err_invalid_target")
        targets = households_of(ctx.db, area[0], area[1], None)
        if not targets:
            raise FieldError("area", "err_no_households")
    except FieldError as exc:
        return _list(ctx, 422, errors={exc.field: exc.key}, values=dict(ctx.form))
    if ctx.form.get("confirmed") != "1":
        # A whole area is asked at once: show how many households first (issue 14).
        labels = dict(area_options(ctx))
        return page(
            ctx,
            "safety_confirm.html",
            active="safety",
            count=len(targets),
            area_label=labels.get(ctx.form.get("area", ""), ""),
            values={"title": title, "question": question, "area": ctx.form.get("area", "")},
        )
    check = start_safety_check(
        ctx.db,
        municipality_id=area[0],
        office_id=area[1],
        title=title,
        question=question,
        households=targets,
        by=ctx.user.email,
        now=ctx.now,
    )
    record_action(
        ctx,
        "safety_check.start",
        target_type="safety_check",
        target_id=check.id,
        municipality_id=area[0],
        detail={"households": len(targets), "office_id": area[1]},
    )
    return RedirectResponse(f"/safety/{check.id}", status_code=303)


def _answers(ctx: Ctx, check: SafetyCheck) -> list[HouseholdAnswer]:
    return safety_answers(ctx.db, check, visible_household_ids(ctx), ctx.now, heartbeat_stale(ctx))


@router.get("/safety/{check_id}")
def safety_detail(check_id: str, ctx: Ctx = needs(Capability.SAFETY_VIEW)) -> Response:
    check = _check_or_404(ctx, check_id)
    answers = _answers(ctx, check)
    office = ctx.db.get(PostOffice, check.office_id) if check.office_id else None
    return page(
        ctx, "safety.html", check=check, answers=answers, counts=tally(answers), office=office
    )


@router.get("/safety/{check_id}/tally")
def safety_tally(check_id: str, ctx: Ctx = needs(Capability.SAFETY_VIEW)) -> Response:
    check = _check_or_404(ctx, check_id)
    answers = _answers(ctx, check)
    html = templates.get_template("_safety_rows.html").render(ctx.template_vars(answers=answers))
    return JSONResponse(
        {"counts": tally(answers), "html": html}, headers={"Cache-Control": "no-store"}
    )


@router.get("/safety/{check_id}/export.csv")
def safety_csv(check_id: str, ctx: Ctx = needs(Capability.SAFETY_VIEW)) -> Response:
    check = _check_or_404(ctx, check_id)
    answers = _answers(ctx, check)
    record_action(
        ctx,
        "export.safety_check",
        target_type="safety_check",
        target_id=check.id,
        municipality_id=check.municipality_id,
        detail={"rows": len(answers)},
    )
    t = ctx.t
    header = [
        "household_id",
        t("address"),
        t("residents"),
        t("state"),
        t("when"),
        t("last_heartbeat"),
    ]
    rows = [
        [
            a.household.id,
            a.household.address,
            "・".join(r.name for r in a.household.residents),
            t(f"status_{a.status}"),
            local(a.answered_at, "%Y-%m-%d %H:%M"),
            local(a.last_heartbeat_at, "%Y-%m-%d %H:%M"),
        ]
        for a in answers
    ]
    return csv_response(f"safety-check-{check.started_at:%Y%m%d-%H%M}.csv", header, rows)
