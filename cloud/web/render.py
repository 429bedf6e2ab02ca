"""Jinja2 environment and small formatting helpers shared by the templates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from cloud.mail.alert_text import case_number
from cloud.web import i18n
from cloud.web.deps import Ctx
from cloud.web.watch_banner import watch_notices

HERE = Path(__file__).resolve().parent
DEFAULT_ZONE = "Asia/Tokyo"

templates = Jinja2Templates(directory=str(HERE / "templates"))


def local(value: datetime | None, fmt: str = "%m/%d %H:%M", zone: str = DEFAULT_ZONE) -> str:
    """Stored in UTC, shown in the household's (default Japan) time. A naive value is UTC
    (how everything is stored), never the server's own zone: astimezone() would take it as
    local time and a server set to Asia/Tokyo would show every such time 9 hours early."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def minutes_since(value: datetime | None, now: datetime) -> int | None:
    if value is None:
        return None
    return int((now - value.astimezone(UTC)).total_seconds() // 60)


@pass_context
def glossary_label(context: Context, kind: str, code: str | None) -> str:
    """The glossary's one label for a code (cloud/web/i18n.py label()), in the page's language."""
    return i18n.label(kind, code, context.get("lang", "ja"))


@pass_context
def slot_label(context: Context, name: str | None, time: str | None = None) -> str:
    """A check-in slot as staff say it: 「朝（8:00）」, never the slot's code name."""
    lang = context.get("lang", "ja")
    text = i18n.label("slot", name, lang)
    if not time:
        return text
    hour, _, minute = time.partition(":")
    clock = f"{int(hour)}:{minute[:2]}"
    return f"{text} ({clock})" if lang == "en" else f"{text}（{clock}）"


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.catalog(context.get("lang", "ja")).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.catalog(context.get("lang", "ja")).ngettext(singular, plural, n)


# `{% trans %}` and `_()` in templates read the page's language from the context.
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.env.filters["local"] = local
templates.env.globals["label"] = glossary_label
templates.env.globals["slot_label"] = slot_label
templates.env.filters["case_number"] = case_number
# base.html shows the stopped-watch banner and the failed-mail notice on every staff page.
templates.env.globals["watch_notices"] = watch_notices


def page(ctx: Ctx, name: str, status: int = 200, **variables: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        ctx.request, name, ctx.template_vars(**variables), status_code=status
    )
    # Pages show personal data: never cache them in a shared or back-button cache.
    response.headers["Cache-Control"] = "no-store"
    return response
