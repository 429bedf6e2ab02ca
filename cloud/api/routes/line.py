"""LINE: the webhook LINE calls, and the admin API for channels, link codes and deliveries.

The webhook needs no token of ours: the body's HMAC signature (the channel secret) is the
proof it came from LINE. Secrets and access tokens are write-only in the admin API.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from cloud.api.deps import admin_router as make_admin_router
from cloud.api.deps import db_session, state
from cloud.db import transaction
from cloud.models import (
    FamilyContact,
    Incident,
    LineChannelConfig,
    Municipality,
    OutboxMail,
    PostOffice,
)
from cloud.notify import linking, outbox, webhook
from cloud.notify.base import CHANNELS
from cloud.notify.line import REPLY_BUDGET_S, reply_texts
from cloud.services import contacts
from cloud.services.errors import ApiError
from mimamori_wire import v1

router = APIRouter(prefix=f"{v1.API_PREFIX}/line", tags=["line"])
admin_router = make_admin_router()


def _reject(status: int, error: str, detail: str) -> JSONResponse:
    webhook.WEBHOOK.labels(error).inc()
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _raw_body(request: Request) -> bytes | None:
    """The raw body (the signature is over these bytes), or None past the limit."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > webhook.MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/webhook", include_in_schema=False)
async def line_webhook(request: Request) -> JSONResponse:
    body = await _raw_body(request)
    if body is None:
        return _reject(413, "oversize", f"at most {webhook.MAX_BODY_BYTES} bytes")
    app = state(request)
    signature = request.headers.get("x-line-signature")
    with transaction(app.sessions) as session:
        config = webhook.channel_for(session, body, signature)
        if config is None:
            return _reject(401, "bad_signature", "X-Line-Signature does not match")
        try:
            events = webhook.parse(body)
        except webhook.Malformed as exc:
            return _reject(400, "malformed", str(exc))
        handled = webhook.handle(session, config, events, app.clock())
        token = config.access_token
    # After the commit (what we answer is what we stored) and after LINE has its 200: the
    # replies and their retries never hold up the webhook call.
    answer = BackgroundTask(_send_replies, app.settings.line_api_base, token, handled.replies)
    return JSONResponse({"results": handled.results}, background=answer)


def _send_replies(api_base: str, token: str, replies: list[webhook.Reply]) -> None:
    """One retry budget for the whole batch: every token came in the same call."""
    deadline = time.monotonic() + REPLY_BUDGET_S
    for reply in replies:
        budget = max(0.0, deadline - time.monotonic())
        reply_texts(api_base, token, reply.token, reply.texts, budget_s=budget)


class LineChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality_id: str
    office_id: str | None = None  # None: the channel serves the whole municipality
    channel_id: str = Field(pattern=r"^[0-9]{6,32}$")
    channel_secret: str = Field(min_length=16, max_length=128)
    access_token: str = Field(min_length=8, max_length=4000)
    add_friend_url: str | None = Field(default=None, pattern=r"^https://", max_length=300)


def _channel_out(row: LineChannelConfig) -> dict[str, Any]:
    """Never the secret or the token."""
    return {
        "id": row.id,
        "municipality_id": row.municipality_id,
        "office_id": row.office_id,
        "channel_id": row.channel_id,
        "add_friend_url": row.add_friend_url,
        "secret_set": bool(row.channel_secret),
        "token_set": bool(row.access_token),
    }


@admin_router.put("/line-channels")
def put_line_channel(
    body: LineChannelIn, session: Session = Depends(db_session, scope="function")
) -> dict[str, Any]:
    if session.get(Municipality, body.municipality_id) is None:
        raise ApiError(404, "not_found", "no such municipality")
    if body.office_id is not None:
        office = session.get(PostOffice, body.office_id)
        if office is None or office.municipality_id != body.municipality_id:
            raise ApiError(404, "not_found", "no such office in this municipality")
    row = (
        session.scalars(
            select(LineChannelConfig).where(LineChannelConfig.channel_id == body.channel_id)
        ).first()
        or LineChannelConfig()
    )
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    return _channel_out(row)


@admin_router.get("/line-channels")
def list_line_channels(
    session: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    return [_channel_out(r) for r in session.scalars(select(LineChannelConfig))]


@admin_router.post("/contacts/{contact_id}/line-link-code")
def new_link_code(
    contact_id: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> dict[str, Any]:
    contact = session.get(FamilyContact, contact_id)
    if contact is None:
        raise ApiError(404, "not_found", "no such contact")
    now = state(request).clock()
    code = linking.issue_code(session, contact, now)
    return {"code": code, "expires_at": (now + linking.CODE_TTL).isoformat()}


class ChannelPrefIn(BaseModel):
    """PUT semantics per field: a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    channel_pref: Literal["line_first", "both", "email"] | None = None
    daily_report_line: bool | None = None


@admin_router.put("/contacts/{contact_id}/channels")
def put_channel_pref(
    contact_id: str, body: ChannelPrefIn, session: Session = Depends(db_session, scope="function")
) -> dict[str, Any]:
    """How the contact is told: alerts by line_first (e-mail if LINE fails), both or email;
    the daily report on LINE (`daily_report_line`, opt-in; it switches the report on)."""
    contact = session.get(FamilyContact, contact_id)
    if contact is None:
        raise ApiError(404, "not_found", "no such contact")
    contacts.set_channels(
        contact, channel_pref=body.channel_pref, daily_report_line=body.daily_report_line
    )
    return {
        "id": contact.id,
        "channel_pref": contact.channel_pref,
        "daily_report": contact.daily_report,
        "daily_report_line": contact.daily_report_line,
        "line_linked": contact.line_user_id is not None,
        "line_blocked_at": _iso(contact.line_blocked_at),
    }


@admin_router.get("/deliveries")
def deliveries(
    status: str | None = Query(default=None, pattern="^(pending|sent|failed)$"),
    channel: str | None = Query(default=None),
    incident_id: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    session: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    """Deliveries of every channel, newest first (failed ones per channel for admins)."""
    if channel is not None and channel not in CHANNELS:
        raise ApiError(422, "invalid_channel", f"channel must be one of {CHANNELS}")
    stmt = select(OutboxMail).order_by(OutboxMail.created_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(OutboxMail.status == status)
    if channel:
        stmt = stmt.where(OutboxMail.channel == channel)
    if incident_id:
        stmt = stmt.where(OutboxMail.incident_id == incident_id)
    return [_delivery_out(r) for r in session.scalars(stmt)]


@admin_router.get("/incidents/{incident_id}/deliveries")
def incident_deliveries(
    incident_id: str, session: Session = Depends(db_session, scope="function")
) -> list[dict[str, Any]]:
    """Which channel reached whom and when (the data of the case page's delivery list)."""
    if session.get(Incident, incident_id) is None:
        raise ApiError(404, "not_found", "no such incident")
    return [
        {**d, "sent_at": _iso(d["sent_at"]), "created_at": _iso(d["created_at"])}
        for d in outbox.case_deliveries(session, incident_id)
    ]


def _delivery_out(row: OutboxMail) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "kind": row.kind,
        "incident_id": row.incident_id,
        "contact_id": row.contact_id,
        "step": row.step,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
