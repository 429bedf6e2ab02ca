"""Schemathesis against the admin API, with a valid admin token, on SQLite and PostgreSQL
(issue 13): inputs built from the OpenAPI schema, valid and deliberately invalid, aimed both at
random ids and at the ids of a seeded household. No answer may be a 5xx, and every answer
must match the schema the API publishes."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.cloud.conftest import ADMIN

# Examples per operation and generation mode: about 20 admin operations, bounded so one
# database takes well under a minute. MIMAMORI_FUZZ_EXAMPLES raises it for a longer hunt,
# MIMAMORI_FUZZ_RANDOM=1 draws new inputs each run (the default is the same inputs each run).
EXAMPLES = int(os.environ.get("MIMAMORI_FUZZ_EXAMPLES", "12"))
PREFIX = "/api/v1/admin"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cloud(request: pytest.FixtureRequest, live_cloud_factory):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return live_cloud_factory(url, api_docs=True)


def _seed(cloud) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Real ids for the path parameters, so the fuzzer reaches past the 404s."""
    hh = cloud.household()
    gateway = cloud.enroll(hh["id"])
    assert gateway.post(gateway.event(_help_kind(), {"source": "button"})).status_code == 200
    incidents = cloud.admin_ok("GET", "/incidents")
    pause = cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/pauses",
        json={"starts_at": "2026-12-01T00:00:00+09:00", "reason": "入院"},
    )
    ids = {
        "household_id": hh["id"],
        "municipality_id": cloud.admin_ok("GET", "/households")[0]["office_id"],
        "office_id": hh["office_id"],
        "gateway_id": gateway.gateway_id,
        "incident_id": incidents[0]["id"],
        "pause_id": pause["id"],
    }
    if hh["contacts"]:
        ids["contact_id"] = hh["contacts"][0]["id"]
    return ids


def _help_kind():  # type: ignore[no-untyped-def]
    from mimamori_wire import v1

    return v1.EventKind.HELP_REQUESTED


def _admin_operations(base_url: str) -> list[Any]:
    raw = httpx.get(f"{base_url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.path.startswith(PREFIX)]


def _strategy(operation: Any, ids: dict[str, str]) -> st.SearchStrategy:
    names = [p.name for p in operation.path_parameters]
    known = {name: ids[name] for name in names if name in ids}
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if known:
        strategies += [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known),
        ]
    return st.one_of(strategies)


def test_admin_api_never_answers_5xx_nor_off_schema(cloud) -> None:  # type: ignore[no-untyped-def]
    ids = _seed(cloud)
    operations = _admin_operations(cloud.base_url)
    assert len(operations) >= 15, [op.label for op in operations]
    statuses: dict[str, set[int]] = {}
    auth = {"Authorization": f"Bearer {ADMIN}"}

    def call(case: Any) -> None:
        response = case.call(base_url=cloud.base_url, headers=auth, timeout=30)
        statuses.setdefault(case.operation.label, set()).add(response.status_code)
        assert response.status_code < 500, (case.operation.label, response.text)
        case.validate_response(response, checks=CHECKS)

    for operation in operations:
        run = settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not os.environ.get("MIMAMORI_FUZZ_RANDOM"),
            suppress_health_check=list(HealthCheck),
        )(given(case=_strategy(operation, ids))(call))
        run()
    # The fuzzer got past authentication and validation into the handlers.
    reached = {label for label, codes in statuses.items() if codes & {200, 201}}
    assert len(reached) >= len(operations) // 2, statuses
