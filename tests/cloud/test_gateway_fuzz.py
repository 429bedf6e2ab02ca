"""Generated hostile input against the real gateway API (SQLite and PostgreSQL).

1. hypothesis: batches of hostile events (see tests/foundation/hostile_input.py) with one
   valid help request at a random position: never a 5xx, always a 200, and the help request
   is always stored.
2. schemathesis: every /api/v1/gateway/* operation fuzzed from the app's own OpenAPI (the
   events body is described there): never a 5xx.
Bounded example counts keep each database's run well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from sqlalchemy import func, select

from cloud.app import create_app
from cloud.models import EventRecord
from mimamori_wire import v1
from tests.foundation.hostile_input import raw_events

from .conftest import LiveCloud

BOUNDED = settings(
    max_examples=40,
    deadline=None,
    database=None,  # each run explores afresh; a found failure is printed with its input
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cloud(
    request: pytest.FixtureRequest, live_cloud_factory: Callable[..., LiveCloud]
) -> LiveCloud:
    if request.param == "postgresql":
        return live_cloud_factory(database_url=request.getfixturevalue("postgres_url"))
    return live_cloud_factory()


def test_hostile_batches_never_5xx_and_help_is_always_stored(cloud: LiveCloud) -> None:
    gw = cloud.enroll(cloud.household()["id"])
    sent_help: list[str] = []
    hostile = raw_events(gw.household_id, gw.gateway_id, now=cloud.clock(), own_envelope=True)

    @BOUNDED
    @given(events=st.lists(hostile, max_size=6), position=st.integers(0, 6))
    def post(events: list[Any], position: int) -> None:
        help_event = gw.event(v1.EventKind.HELP_REQUESTED, v1.HelpRequested(source="button"))
        events.insert(min(position, len(events)), help_event.to_wire())
        # json.dumps writes NaN/Infinity tokens and escapes lone surrogates, as a client might.
        body = json.dumps({"events": events}).encode()
        r = httpx.post(
            f"{gw.base_url}/api/v1/gateway/events",
            content=body,
            headers={**gw.headers, "content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        result = v1.BatchResult.model_validate(r.json())
        assert help_event.id in result.accepted
        assert len(result.accepted) + len(result.duplicates) + len(result.rejected) == len(events)
        sent_help.append(help_event.id)

    post()
    with cloud.sessions() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(EventRecord)
            .where(EventRecord.id.in_(sent_help), EventRecord.kind == "help.requested")
        )
    assert stored == len(sent_help) > 0


def test_schemathesis_gateway_api_never_5xx(cloud: LiveCloud) -> None:
    gw = cloud.enroll(cloud.household()["id"])
    spec = create_app(cloud.settings, clock=cloud.clock).openapi()
    events_body = spec["paths"]["/api/v1/gateway/events"]["post"]["requestBody"]
    assert "events" in events_body["content"]["application/json"]["schema"]["properties"]
    schema = schemathesis.openapi.from_dict(spec)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith(f"{v1.API_PREFIX}/gateway/")
    ]
    assert {op.path for op in operations} >= {
        "/api/v1/gateway/events",
        "/api/v1/gateway/heartbeat",
        "/api/v1/gateway/enroll",
        "/api/v1/gateway/config",
    }
    statuses: list[int] = []

    @settings(BOUNDED, max_examples=120)
    @given(case=st.one_of([op.as_strategy() for op in operations]))
    def call(case: Any) -> None:
        response = case.call(base_url=cloud.base_url, headers=gw.headers, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    call()
    assert statuses and max(statuses) < 500
    assert 200 in statuses  # the fuzzer got past authentication, not only 401s
