"""Jinja2 environment and small formatting helpers shared by the templates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cloud.web.deps import Ctx
from cloud.web.watch_banner import watch_notices

HERE = Path(__file__).resolve().parent
DEFAULT_ZONE = "Asia/Tokyo"

templates = Jinja2Templates(directory=str(HERE / "templates"))


def local(value: datetime | None, fmt: str = "%m/%d %H:%M", zone: str = DEFAULT_ZONE) -> str:
    """Stored in UTC, shown in the household's (default Japan) time."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def minutes_since(value: datetime | None, now: datetime) -> int | None:
    if value is None:
        return None
    return int((now - value.astimezone(UTC)).total_seconds() // 60)


templates.env.filters["local"] = local
# base.html shows the stopped-watch banner and the failed-mail notice on every staff page.
templates.env.globals["watch_notices"] = watch_notices


def page(ctx: Ctx, name: str, status: int = 200, **variables: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        ctx.request, name, ctx.template_vars(**variables), status_code=status
    )
    # Pages show personal data: never cache them in a shared or back-button cache.
    response.headers["Cache-Control"] = "no-store"
    return response
