"""Issue 13: events a gateway keeps in its quarantine show on the household page as a device
problem (Japanese), from the heartbeat's `quarantined_events`; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mimamori_dev.services import CloudServer
from tests.dashboard.conftest import build_world, enroll, login

NOTICE = "見守り機がクラウドに送れない記録が 3 件あります"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, start_cloud: Callable[..., CloudServer]) -> CloudServer:
    if request.param == "postgresql":
        return start_cloud(database_url=request.getfixturevalue("postgres_url"))
    return start_cloud()


def _beat(gw, **extra: object) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{gw.base_url}/api/v1/gateway/heartbeat",
        json={"software_version": "1.0", "uptime_s": 5, "outbox_depth": 0, **extra},
        headers=gw.headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_household_page_shows_quarantined_events_as_a_device_problem(server: CloudServer) -> None:
    world = build_world(server)
    household = world.households["A"][0]
    gw = enroll(server, household)
    staff = login(server.base_url, world.users["staff_a"])
    _beat(gw)
    page = staff.get(f"/households/{household}")
    assert page.status_code == 200 and 'id="quarantined-events"' not in page.text
    _beat(gw, quarantined_events=3)
    page = staff.get(f"/households/{household}")
    assert NOTICE in page.text and 'id="quarantined-events"' in page.text
    _beat(gw, quarantined_events=0)  # the operator cleared the quarantine: the notice goes
    assert NOTICE not in staff.get(f"/households/{household}").text
