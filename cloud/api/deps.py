"""Per-app state and FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.escalation.steps import Notifier


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    notifier: Notifier


def state(request: Request) -> AppState:
    return request.app.state.mimamori


def db_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the handler returns without error.

    Use as Depends(db_session, scope="function"): with the default scope FastAPI runs the
    commit after the response is sent, so a client could act on a write not yet durable.
    """
    factory = state(request).sessions
    with factory() as session, session.begin():
        yield session


@dataclass(frozen=True)
class Principal:
    """Who is calling the admin API. The dashboard adds staff sessions (with scopes) later."""

    kind: str  # "admin_token"
    name: str


def admin_principal(request: Request) -> Principal:
    """Bearer MIMAMORI_ADMIN_TOKEN, compared in constant time."""
    import hmac

    from cloud.core import metrics
    from cloud.services.errors import ApiError

    expected = state(request).settings.admin_token
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not expected:
        raise ApiError(401, "admin_disabled", "The admin API is off: set MIMAMORI_ADMIN_TOKEN.")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        metrics.REJECTED.labels("invalid_admin_token").inc()
        raise ApiError(401, "invalid_admin_token", "Send Authorization: Bearer <admin token>.")
    return Principal("admin_token", "admin")


def admin_router() -> APIRouter:
    """A router under /api/v1/admin: admin token checked, every 4xx `{"error", "detail"}`."""
    from mimamori_wire import v1

    error = {"model": v1.ErrorBody}
    return APIRouter(
        prefix=f"{v1.API_PREFIX}/admin",
        tags=["admin"],
        dependencies=[Depends(admin_principal)],
        responses={
            401: {**error, "description": "missing or wrong admin token"},
            404: {**error, "description": "no such object"},
            413: {**error, "description": "body over the size limit"},
            422: {**error, "description": "invalid parameters or body"},
        },
    )
