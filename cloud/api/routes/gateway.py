"""The gateway API (ARCHITECTURE.md 3.1): enroll, events, heartbeat, config."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cloud.api.deps import AppState, db_session, state
from cloud.core import metrics
from cloud.core.logging import log_event
from cloud.db import transaction, with_fresh_connection
from cloud.services import gateways
from cloud.services.errors import ApiError
from mimamori_wire import v1

log = logging.getLogger(__name__)
router = APIRouter(prefix=f"{v1.API_PREFIX}/gateway", tags=["gateway"])


@router.post("/enroll", response_model=v1.EnrollResponse)
def enroll(
    body: v1.EnrollRequest,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> v1.EnrollResponse:
    return gateways.enroll(session, body, state(request).clock())


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """The batch schema with its $defs inlined, so OpenAPI tools can read (and fuzz) it."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


_BATCH_SCHEMA = v1.EventBatch.model_json_schema()
_ERROR = {"model": v1.ErrorBody}
EVENTS_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_refs(_BATCH_SCHEMA, _BATCH_SCHEMA["$defs"])}
        },
    }
}


@router.post(
    "/events",
    response_model=v1.BatchResult,
    openapi_extra=EVENTS_OPENAPI,
    responses={
        401: {**_ERROR, "description": "missing or invalid gateway token"},
        403: {**_ERROR, "description": "an event of another household or gateway"},
        413: {
            **_ERROR,
            "description": "more than MAX_BATCH_EVENTS events or a body over the byte limit: "
            "the gateway splits the batch and resends",
        },
        422: {**_ERROR, "description": "the body is not an event batch at all"},
    },
)
async def events(request: Request, authorization: str | None = Header(None)) -> Response:
    """Store a batch. Each event is judged on its own: one that cannot be stored is listed
    in `rejected` with a reason code and the rest are stored (200). Only the envelope
    (auth, tenancy, batch size, not JSON) fails the whole request. The served app answers
    a batch before FastAPI (cloud.api.fast_path, the same `answer_batch`); this route
    answers when that layer is not there and is the schema."""
    app = state(request)
    raw = await _read_limited(request, app.settings.max_body_bytes)
    result = await run_in_threadpool(answer_batch, app, authorization, raw)
    # Built by the code from the contract's model: FastAPI's second validation of it was
    # measurable CPU on every batch (docs/benchmarks.md "API cost per request").
    return Response(result.model_dump_json(), media_type="application/json")


def answer_batch(app: AppState, authorization: str | None, raw: bytes) -> v1.BatchResult:
    """The whole answer to a batch's bytes (already within the size limit): ApiError for
    a request refused as a whole, else what was stored, a duplicate or refused."""
    try:
        body = json.loads(raw)
        good, bad = v1.parse_batch_leniently(body)
    except OverflowError as exc:
        metrics.REJECTED.labels("oversize").inc()
        raise _refused_batch(ApiError(413, "batch_too_large", str(exc))) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
        metrics.REJECTED.labels("malformed_batch").inc()
        error = ApiError(422, "malformed_batch", f"not an event batch: {exc}"[:300])
        raise _refused_batch(error) from None
    for rejected in bad:
        metrics.REJECTED.labels(rejected.reason).inc()
    return with_fresh_connection(partial(_ingest, app, authorization, good, bad))


def _ingest(
    app: AppState,
    authorization: str | None,
    good: list[v1.Event],
    bad: list[v1.RejectedEvent],
) -> v1.BatchResult:
    # The response is built only after the transaction commits: 200 means durable.
    now = app.clock()
    good, refused = gateways.screen_times(
        good, now, timedelta(seconds=app.settings.max_clock_skew_s)
    )
    ids: dict[str, str] = {}

    def identified(gateway: gateways.GatewayIdentity) -> None:
        ids.update(gateway_id=gateway.id, household_id=gateway.household_id)

    try:
        accepted, duplicates = _store(app, authorization, good, now, identified)
        return _logged(
            v1.BatchResult(accepted=accepted, duplicates=duplicates, rejected=bad + refused), ids
        )
    except ApiError as exc:
        raise _refused_batch(exc, **ids) from None
    except Exception as exc:  # one event broke the batch: store them one by one instead
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise  # a dead pooled connection, not the batch: with_fresh_connection retries
        log_event(
            log,
            "ingest.batch_failed",
            logging.WARNING,
            **ids,
            count=len(good),
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
    with transaction(app.sessions) as session:
        gateway = gateways.identify(session, authorization)
        identified(gateway)  # the one-statement try fails before it knows the gateway
        gateways.check_tenancy(gateway, good)  # again: the first try may have failed before
        accepted, duplicates, failed = gateways.store_one_by_one(
            session, app.notifier, gateway, good, now
        )
    result = v1.BatchResult(
        accepted=accepted, duplicates=duplicates, rejected=bad + refused + failed
    )
    return _logged(result, ids)


def _store(
    app: AppState,
    authorization: str | None,
    good: list[v1.Event],
    now: datetime,
    identified: Callable[[gateways.GatewayIdentity], None],
) -> tuple[list[str], list[str]]:
    """The batch stored and committed as a whole; -> accepted, duplicates."""
    if good and app.engine.dialect.name == "postgresql" and gateways.has_no_effects(good):
        return gateways.store_plain_events_postgres(
            app.engine, app.sessions, authorization, good, now, identified
        )
    with transaction(app.sessions) as session:
        has_checkins = any(event.kind in gateways.CHECKIN_KINDS for event in good)
        gateway = gateways.identify(session, authorization, with_checkin_context=has_checkins)
        identified(gateway)
        gateways.check_tenancy(gateway, good)
        if not good:
            return [], []
        return gateways.store_events(session, app.notifier, gateway, good, now)


def _logged(result: v1.BatchResult, ids: dict[str, str]) -> v1.BatchResult:
    """One line per event the cloud did not store, with its reason code (and the ids)."""
    for rejected in result.rejected:
        log_event(
            log,
            "ingest.rejected",
            logging.WARNING,
            event_id=rejected.id,
            **ids,
            reason=rejected.reason,
            error=rejected.error[:300],
        )
    return result


def _refused_batch(exc: ApiError, **ids: str) -> ApiError:
    """A whole request refused (auth, tenancy, size, not a batch): one line, then the 4xx."""
    log_event(
        log,
        "ingest.batch_refused",
        logging.WARNING,
        **ids,
        status=exc.status,
        reason=exc.error,
        error=exc.detail[:300],
    )
    return exc


async def _read_limited(request: Request, limit: int) -> bytes:
    check_body_size(request.headers.get("content-length"), 0, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        check_body_size(None, size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def check_body_size(declared: str | None, size: int, limit: int) -> None:
    """413 when the declared Content-Length or the bytes read so far are over `limit`."""
    if size > limit or (declared and declared.isdigit() and int(declared) > limit):
        metrics.REJECTED.labels("oversize").inc()
        raise ApiError(413, "body_too_large", f"request body over {limit} bytes")


@router.post("/heartbeat", response_model=v1.HeartbeatResponse)
def heartbeat(
    body: v1.Heartbeat, request: Request, authorization: str | None = Header(None)
) -> v1.HeartbeatResponse:
    """A valid heartbeat is answered before FastAPI by cloud.api.fast_path (the same
    `record_heartbeat`); this route answers the rest (422 for a bad body) and is the schema."""
    return record_heartbeat(state(request), authorization, body)


def record_heartbeat(
    app: AppState, authorization: str | None, body: v1.Heartbeat
) -> v1.HeartbeatResponse:
    now = app.clock()
    if app.engine.dialect.name == "postgresql":  # one round trip (docs/scaling.md)
        return with_fresh_connection(
            lambda: gateways.heartbeat_postgres(
                app.engine, app.sessions, app.notifier, authorization, body, now
            )
        )

    def in_session() -> v1.HeartbeatResponse:
        with transaction(app.sessions) as session:
            gateway = gateways.authenticate(session, authorization)
            return gateways.heartbeat(session, app.notifier, gateway, body, now)

    return with_fresh_connection(in_session)


@router.get("/config", response_model=v1.GatewayConfig)
def config(
    request: Request,
    response: Response,
    authorization: str | None = Header(None),
    if_none_match: str | None = Header(None),
    session: Session = Depends(db_session, scope="function"),
) -> v1.GatewayConfig | Response:
    gateway = gateways.authenticate(session, authorization)
    interval = state(request).settings.heartbeat_interval_for_gateways
    current = gateways.gateway_config(session, gateway, interval)
    # The interval is the cloud's, not the household's: a new one changes the ETag, so a
    # gateway picks it up at its next config fetch (start, or a new config_version).
    etag = f'"{current.config_version}-{interval}"'
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return current
