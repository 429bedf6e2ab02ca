"""The desk at a prefecture's size (issue 18): open incidents paged in desk order with every
one on exactly one page, the poller's counts and urgent ids over all pages, the recently
resolved list newest first within its window, other offices never shown; on PostgreSQL the
desk's statements read incidents through indexes, not by scanning the history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, event, insert

from cloud.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.auth.users import create_user
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.chain import DEFAULT_CHAINS
from cloud.migrations import upgrade_head
from cloud.models import (
    Household,
    Incident,
    Municipality,
    OutboxMail,
    PostOffice,
    Resident,
    new_id,
)
from cloud.web.routes import desk as desk_route
from tests.dashboard.conftest import PASSWORD

CAUSES = ["help_requested", "unwell", "missed_checkin", "gateway_offline", "callback"]
URGENT = {"help_requested", "unwell"}
# The desk's rule in its own words: unacknowledged first, then help > unwell > missed >
# offline > callback, then the one that has waited longest.
RANK = {cause: n for n, cause in enumerate(CAUSES)}


@dataclass
class Desk:
    url: str
    client: TestClient
    engine: Engine
    office: str
    other_office: str
    homes: list[str]  # of `office`
    other_homes: list[str]
    now: datetime

    def close(self) -> None:
        self.client.close()
        self.engine.dispose()


def _seed(url: str, homes_per_office: int) -> tuple[str, str, list[str], list[str]]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            town = Municipality(name="試験市")
            s.add(town)
            s.flush()
            mine, other = (
                PostOffice(municipality_id=town.id, name="本局"),
                PostOffice(municipality_id=town.id, name="隣局"),
            )
            s.add_all([mine, other])
            s.flush()
            homes = {mine.id: [new_id() for _ in range(homes_per_office)]}
            homes[other.id] = [new_id() for _ in range(homes_per_office)]
            for office_id, ids in homes.items():
                s.execute(
                    insert(Household),
                    [
                        {
                            "id": h,
                            "office_id": office_id,
                            "address": f"町{h[:4]}",
                            "created_at": now,
                        }
                        for h in ids
                    ],
                )
                s.execute(insert(Resident), [{"household_id": h, "name": "見守 花子"} for h in ids])
            create_user(
                s,
                email="desk@example.jp",
                password=PASSWORD,
                name="窓口",
                role="staff",
                office_id=mine.id,
                settings=AuthSettings(),
            )
            return mine.id, other.id, homes[mine.id], homes[other.id]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('desk-scale')}/cloud.db"


def _open_desk(url: str, homes_per_office: int) -> Desk:
    upgrade_head(url)
    office, other, homes, other_homes = _seed(url, homes_per_office)
    app = create_app(Settings(database_url=url, secret_key="test-desk-scale"))
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    signed = client.post(
        "/login",
        data={"email": "desk@example.jp", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return Desk(
        url,
        client,
        app.state.mimamori.engine,
        office,
        other,
        homes,
        other_homes,
        datetime.now(UTC),
    )


@pytest.fixture(scope="module")
def desk(sqlite_url: str) -> Iterator[Desk]:
    opened = _open_desk(sqlite_url, 40)
    yield opened
    opened.close()


def _incident(home: str, cause: str, state: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "household_id": home,
        "cause": cause,
        "state": state,
        "opened_at": at,
        "chain": DEFAULT_CHAINS[cause],
        "next_step": 1,
        **extra,
    }


def _replace_incidents(desk: Desk, rows: list[dict[str, Any]]) -> None:
    with transaction(make_sessionmaker(desk.engine)) as s:
        s.execute(delete(Incident))
        if rows:
            s.execute(insert(Incident), rows)


def _walk_pages(desk: Desk) -> tuple[list[str], int, int]:
    """Card ids of every desk page in order, the open count shown, and the number of pages."""
    first = desk.client.get("/").text
    shown = int(re.search(r'id="open-count">(\d+)<', first).group(1))  # type: ignore[union-attr]
    pages = max([1, *(int(n) for n in re.findall(r'href="/\?page=(\d+)"', first))])
    ids: list[str] = []
    for n in range(1, pages + 1):
        html = first if n == 1 else desk.client.get(f"/?page={n}").text
        cards = re.findall(
            r'<article class="incident [^"]*" id="incident-[^"]+" data-id="([^"]+)"', html
        )
        assert len(cards) <= desk_route.DESK_PAGE_SIZE
        ids += cards
    return ids, shown, pages


# One office's morning: any mix of causes, states and ages, for this office and the next.
incident_specs = st.lists(
    st.tuples(
        st.sampled_from(CAUSES),
        st.sampled_from(["open", "acknowledged"]),
        st.integers(min_value=0, max_value=600),  # minutes since opened
        st.booleans(),  # this office (True) or the neighbour
    ),
    max_size=60,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=incident_specs, page_size=st.integers(min_value=1, max_value=12))
def test_every_open_incident_is_on_exactly_one_page_in_desk_order(
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
    specs: list[tuple[str, str, int, bool]],
    page_size: int,
) -> None:
    monkeypatch.setattr(desk_route, "DESK_PAGE_SIZE", page_size)
    rows, mine = [], []
    used: set[tuple[str, str]] = set()
    for n, (cause, state, age, here) in enumerate(specs):
        homes = desk.homes if here else desk.other_homes
        home = homes[n % len(homes)]
        if (home, cause) in used:  # one open incident per household and cause
            continue
        used.add((home, cause))
        row = _incident(home, cause, state, desk.now - timedelta(minutes=age, seconds=n))
        rows.append(row)
        if here:
            mine.append(row)
    _replace_incidents(desk, rows)

    ids, shown, pages = _walk_pages(desk)

    expected = sorted(
        mine, key=lambda r: (r["state"] != "open", RANK[r["cause"]], r["opened_at"], r["id"])
    )
    assert ids == [r["id"] for r in expected]
    assert shown == len(mine)
    assert pages == max(1, -(-len(mine) // page_size))
    feed = desk.client.get("/desk/feed", headers={"Accept": "application/json"}).json()
    urgent_open = {r["id"] for r in mine if r["cause"] in URGENT and r["state"] == "open"}
    assert feed["count"] == len(mine)
    assert set(feed["urgent"]) == urgent_open  # also those on later pages
    known = set(feed["ids"])
    assert urgent_open <= known and {r["id"] for r in expected[:page_size]} <= known
    assert known <= {r["id"] for r in mine}


def test_recently_resolved_is_the_newest_twenty_of_the_week_in_scope(desk: Desk) -> None:
    def resolved(home: str, days_ago: float) -> dict[str, Any]:
        at = desk.now - timedelta(days=days_ago)
        return _incident(
            home,
            "missed_checkin",
            "resolved",
            at - timedelta(minutes=30),
            resolved_at=at,
            outcome="safe",
        )

    mine = [resolved(desk.homes[n % 40], n * 0.25) for n in range(26)]  # 0 .. 6.25 days
    older = [resolved(desk.homes[n], 7.5 + n) for n in range(5)]
    theirs = [resolved(desk.other_homes[n], n * 0.01) for n in range(10)]  # newer than mine
    _replace_incidents(desk, mine + older + theirs)

    html = desk.client.get("/").text
    listed = re.findall(r'<tr id="resolved-([^"]+)">', html)

    assert listed == [r["id"] for r in mine[: desk_route.RECENT_RESOLVED]]


@pytest.mark.postgres
def test_desk_reads_incidents_through_indexes_on_postgresql(postgres_url: str) -> None:
    """A week of history (3,000 resolved incidents) and a few open ones: every statement
    of a desk render and of its poll reads incidents by index, none scans the table."""
    desk = _open_desk(postgres_url, 300)
    try:
        now = desk.now
        history = [
            _incident(
                (desk.homes + desk.other_homes)[n % 600],
                "missed_checkin",
                "resolved",
                now - timedelta(minutes=n * 3 + 30),
                resolved_at=now - timedelta(minutes=n * 3),
                outcome="answered_late",
            )
            for n in range(3000)
        ]
        open_now = [
            _incident(desk.homes[n], CAUSES[n % 5], "open", now - timedelta(minutes=n))
            for n in range(8)
        ]
        _replace_incidents(desk, history + open_now)
        with desk.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        seen: list[tuple[str, Any]] = []

        def log(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT") and "incidents" in statement:
                seen.append((statement, parameters))

        event.listen(desk.engine, "before_cursor_execute", log)
        assert desk.client.get("/").status_code == 200
        assert desk.client.get("/desk/feed").status_code == 200
        event.remove(desk.engine, "before_cursor_execute", log)

        assert seen
        with desk.engine.connect() as conn:
            for statement, parameters in seen:
                plan = "\n".join(
                    r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
                )
                assert "Seq Scan on incidents" not in plan, (statement, plan)
    finally:
        desk.close()


def _failed_mail(incident_id: str, n: int, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "to_addr": f"family{n}@example.jp",
        "subject": "見守りのお知らせ",
        "text_body": "応答がありません。",
        "headers": {},
        "kind": "alert.family",
        "incident_id": incident_id,
        "status": "failed",
        "attempts": 5,
        "next_attempt_at": at,
        "created_at": at,
        "last_error": "smtp_5xx: 550 no such user",
        "step": 0,
    }


def _statements_for(desk: Desk, path: str) -> tuple[int, str]:
    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    event.listen(desk.engine, "before_cursor_execute", counted)
    try:
        html = desk.client.get(path).text
    finally:
        event.remove(desk.engine, "before_cursor_execute", counted)
    return count, html


def test_failed_deliveries_page_costs_the_same_statements_for_3_or_30_households(
    desk: Desk,
) -> None:
    """The list names each household's residents: read with the rows, not one by one."""
    counts = []
    for households in (3, 30):
        incidents = [
            _incident(desk.homes[n], "missed_checkin", "open", desk.now - timedelta(minutes=n))
            for n in range(households)
        ]
        _replace_incidents(desk, incidents)
        with transaction(make_sessionmaker(desk.engine)) as s:
            s.execute(delete(OutboxMail))
            s.execute(
                insert(OutboxMail),
                [_failed_mail(i["id"], n, desk.now) for n, i in enumerate(incidents)],
            )
        count, html = _statements_for(desk, "/deliveries/failed")
        assert html.count("見守 花子") >= households  # every row names its resident
        counts.append(count)
    assert counts[0] == counts[1], counts


def test_a_form_error_shows_the_desk_page_holding_that_case(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk_route, "DESK_PAGE_SIZE", 2)
    cases = [
        _incident(desk.homes[n], "missed_checkin", "open", desk.now - timedelta(minutes=10 - n))
        for n in range(5)
    ]
    _replace_incidents(desk, cases)
    last = cases[-1]["id"]  # the newest: desk order puts it on page 3
    html = desk.client.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token and f'id="incident-{last}"' not in html

    sent = desk.client.post(
        f"/incidents/{last}/resolve", data={"csrf_token": token.group(1), "outcome": ""}
    )

    assert sent.status_code == 422
    assert f'id="incident-{last}"' in sent.text and "<b>3</b>" in sent.text
    assert 'class="error field"' in sent.text


def _form_actions(html: str, incident_id: str) -> dict[str, str]:
    """The action URL of each form on `incident_id`'s desk card, by what it does."""
    found = re.findall(rf'action="(/incidents/{incident_id}/(\w+)[^"]*)"', html)
    return {verb: url.replace("&amp;", "&") for url, verb in found}


def test_a_form_sent_from_a_later_desk_page_returns_to_that_page_and_filter(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff working down page 3 of a bad morning take, note and close cases there: each
    form brings them back to page 3 with the office filter, never to page 1."""
    monkeypatch.setattr(desk_route, "DESK_PAGE_SIZE", 2)
    cases = [
        _incident(desk.homes[n], "missed_checkin", "open", desk.now - timedelta(minutes=20 - n))
        for n in range(7)
    ]
    _replace_incidents(desk, cases)
    listing = f"/?office={desk.office}&page=3"
    html = desk.client.get(listing).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token and "<b>3</b>" in html
    on_page = re.findall(r'data-id="([^"]+)"', html)
    assert len(on_page) == 2
    first, second = on_page
    actions = _form_actions(html, first)
    assert set(actions) == {"ack", "note", "call", "resolve"}
    # A call is recorded with the call form (whom, number, result), not as a note.
    assert '<option value="call"' not in html and '<option value="visit"' in html
    wanted = f"/?office={desk.office}&page=3"
    csrf = {"csrf_token": token.group(1)}

    taken = desk.client.post(actions["ack"], data=csrf, follow_redirects=False)
    noted = desk.client.post(
        actions["note"], data={**csrf, "kind": "visit", "text": "訪問予定"}, follow_redirects=False
    )
    called = desk.client.post(
        actions["call"],
        data={**csrf, "target": "見守 花子|", "call_result": "no_answer"},
        follow_redirects=False,
    )
    closed = desk.client.post(
        _form_actions(html, second)["resolve"],
        data={**csrf, "outcome": "safe"},
        follow_redirects=False,
    )

    assert taken.status_code == 303 and taken.headers["location"] == wanted
    for sent, done in ((noted, "note"), (called, "call")):
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"{wanted}&saved={first}&done={done}"
    assert closed.headers["location"] == f"{wanted}&saved={second}&done=resolved"
    back = desk.client.get(closed.headers["location"]).text
    assert "<b>3</b>" in back
    # The first page of everything keeps its plain address.
    assert _form_actions(desk.client.get("/").text, cases[0]["id"])["ack"] == (
        f"/incidents/{cases[0]['id']}/ack"
    )
