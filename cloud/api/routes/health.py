"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os
from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.api.deps import db_session, state
from cloud.services import watch
from cloud.services.watch_metrics import watch_registry

router = APIRouter()


@router.get("/healthz")
def healthz(session: Session = Depends(db_session, scope="function")) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """503 when the database is unreachable or some worker loop (detect, escalate, mail) has
    completed no pass within settings.watch_stale_s: nobody is watching. The body says why."""
    app = state(request)
    now = app.clock()
    try:
        with app.sessions() as session:
            status = watch.watch_status(session, now, timedelta(seconds=app.settings.watch_stale_s))
    except Exception as exc:  # the database itself is down: not ready, and say so
        body = {"status": "not_ready", "reasons": [f"database: {type(exc).__name__}"]}
        return JSONResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
    return JSONResponse(
        status.as_json(),
        status_code=200 if status.ready else 503,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    # Worker liveness and the outbox as the database sees them, whichever process scrapes.
    watch_figures = generate_latest(watch_registry(state(request)))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry) + watch_figures, media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest() + watch_figures, media_type=CONTENT_TYPE_LATEST)
