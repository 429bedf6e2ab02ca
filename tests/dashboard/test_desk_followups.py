"""The desk shows safety-check "needs help" incidents as urgent as help, and records a
returning gateway on its offline incident. Real server, real SQLite, real gateway API."""

from __future__ import annotations

import re

from cloud.core.clock import system_clock
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.models import Household
from cloud.services.incidents import open_incident
from mimamori_wire import v1
from tests.dashboard.conftest import World, enroll, login


def _article(html: str, cause_label: str) -> str:
    for match in re.finditer(r"<article class=\"([^\"]+)\"[^>]*>(.*?)</article>", html, re.S):
        if cause_label in match.group(2):
            return match.group(1)
    raise AssertionError(f"no incident labelled {cause_label} on the desk")


def test_safety_needs_help_is_on_the_desk_with_help_severity(world: World) -> None:
    help_household, safety_household = world.households["A"][0], world.households["A"][1]
    enroll(world.server, help_household).post(v1.EventKind.HELP_REQUESTED, {"source": "voice"})
    enroll(world.server, safety_household).post(
        v1.EventKind.SAFETY_CHECK_ANSWERED, {"check_id": "c1", "status": "needs_help"}
    )
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        html = staff.get("/").text
    finally:
        staff.close()
    safety = _article(html, "安否確認で助けが必要")
    assert safety.split() == _article(html, "助けの要請").split()  # same severity
    assert "sev-0" in safety.split() and "urgent" in safety.split()


def test_gateway_back_is_noted_and_resolved_on_the_desk(world: World) -> None:
    household_id = world.households["A"][2]
    gateway = enroll(world.server, household_id)
    engine = make_engine(world.server.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            household = session.get_one(Household, household_id)
            assert open_incident(session, household, "gateway_offline", system_clock())
    finally:
        engine.dispose()
    gateway.heartbeat()
    rows = world.sql(
        "SELECT i.state, i.outcome, n.kind, n.text FROM incidents i "
        "JOIN incident_notes n ON n.incident_id = i.id WHERE i.household_id = ?",
        (household_id,),
    )
    assert rows == [("resolved", "gateway_back", "system", "見守り機が再接続しました")]
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        html = staff.get("/").text
    finally:
        staff.close()
    resolved = re.search(r"<tr id=\"resolved-[^\"]+\">(.*?)</tr>", html, re.S)
    assert resolved is not None
    assert "見守り機が再接続" in resolved.group(1)  # outcome label and the automatic note
    assert "見守り機の通信途絶" in resolved.group(1)
