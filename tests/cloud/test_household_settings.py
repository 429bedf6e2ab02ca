"""Household settings (voice speed/volume, transcripts, quiet hours, inactivity deadline,
per-slot questions and re-asks): admin API, CLI, config_version, the gateway config, and the
0003 migration on existing rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from cloud.migrations import alembic_config
from mimamori_wire import v1
from tests.cloud.conftest import LiveCloud


def gateway_config(gw, etag: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = dict(gw.headers)
    if etag:
        headers["If-None-Match"] = etag
    return httpx.get(f"{gw.base_url}/api/v1/gateway/config", headers=headers, timeout=30)


def test_settings_round_trip_reach_the_gateway_config(live_cloud: LiveCloud) -> None:
    hh = live_cloud.household(slots=["08:00", "19:00"])
    gw = live_cloud.enroll(hh["id"])
    before = gateway_config(gw)
    assert before.status_code == 200
    defaults = v1.GatewayConfig.model_validate(before.json())
    assert (defaults.tts_speed, defaults.tts_volume, defaults.share_transcripts) == (
        1.0,
        1.0,
        False,
    )
    assert defaults.slots[0].questions == [v1.Question.HEALTH]
    assert defaults.slots[0].reask_offsets_min == [10, 20]
    etag = before.headers["ETag"]
    assert gateway_config(gw, etag).status_code == 304

    patched = live_cloud.admin_ok(
        "PATCH",
        f"/households/{hh['id']}/settings",
        json={
            "tts_speed": 0.7,
            "tts_volume": 1.6,
            "share_transcripts": True,
            "quiet_hours": {"start": "20:30", "end": "07:00"},
            "inactivity_deadline": None,
        },
    )
    assert patched["config_version"] == hh["config_version"] + 1
    assert set(patched["changed"]) == {
        "tts_speed",
        "tts_volume",
        "share_transcripts",
        "quiet_start",
        "quiet_end",
        "inactivity_deadline",
    }
    assert patched["settings"] == {
        "tts_speed": 0.7,
        "tts_volume": 1.6,
        "share_transcripts": True,
        "quiet_hours": {"start": "20:30", "end": "07:00"},
        "inactivity_deadline": None,
    }
    slots = live_cloud.admin_ok(
        "PUT",
        f"/households/{hh['id']}/slots",
        json=[
            {
                "time": "08:00",
                "questions": ["medicine", "health", "meal"],
                "reask_offsets_min": [5],
            },
            {"time": "19:00", "window_min": 60, "questions": ["sleep"]},
        ],
    )
    assert slots["config_version"] == hh["config_version"] + 2
    assert [s["questions"] for s in slots["slots"]] == [
        ["health", "medicine", "meal"],  # health is always asked first
        ["health", "sleep"],
    ]

    after = gateway_config(gw, etag)
    assert after.status_code == 200  # the old ETag no longer matches
    assert after.headers["ETag"] != etag
    cfg = v1.GatewayConfig.model_validate(after.json())
    assert cfg.config_version == slots["config_version"]
    assert (cfg.tts_speed, cfg.tts_volume, cfg.share_transcripts) == (0.7, 1.6, True)
    assert cfg.quiet_hours == v1.QuietHours(start="20:30", end="07:00")
    assert cfg.inactivity_deadline is None
    morning, evening = cfg.slots
    assert morning.questions == [v1.Question.HEALTH, v1.Question.MEDICINE, v1.Question.MEAL]
    assert morning.reask_offsets_min == [5]
    assert evening.questions == [v1.Question.HEALTH, v1.Question.SLEEP]
    assert evening.reask_offsets_min == [10, 20]
    # The heartbeat tells the gateway there is something new to fetch.
    assert gw.heartbeat().config_version == cfg.config_version


def test_same_values_do_not_bump_the_version(live_cloud: LiveCloud) -> None:
    hh = live_cloud.household()
    first = live_cloud.admin_ok(
        "PATCH", f"/households/{hh['id']}/settings", json={"tts_speed": 0.8}
    )
    again = live_cloud.admin_ok(
        "PATCH", f"/households/{hh['id']}/settings", json={"tts_speed": 0.8}
    )
    assert first["config_version"] == hh["config_version"] + 1
    assert again["config_version"] == first["config_version"] and again["changed"] == []
    # Fields not sent keep their values.
    assert again["settings"]["tts_volume"] == 1.0
    assert again["settings"]["inactivity_deadline"] == "10:00"


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"tts_speed": 1.6}, "tts_speed"),
        ({"tts_speed": 0.4}, "tts_speed"),
        ({"tts_volume": 0.0}, "tts_volume"),
        ({"tts_volume": 2.5}, "tts_volume"),
        ({"quiet_hours": {"start": "25:00", "end": "06:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "quiet_hours"),
        ({"inactivity_deadline": "10時"}, "inactivity_deadline"),
        ({"tts_speed": "fast"}, "tts_speed"),
        ({"volume": 1.0}, "volume"),  # unknown field: refused, not ignored
    ],
)
def test_bad_settings_are_422_and_change_nothing(
    live_cloud: LiveCloud, body: dict, word: str
) -> None:
    hh = live_cloud.household()
    r = live_cloud.admin("PATCH", f"/households/{hh['id']}/settings", json=body)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"} and word in r.json()["detail"]
    now = live_cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert now["config_version"] == hh["config_version"]
    assert now["settings"]["tts_speed"] == 1.0


@pytest.mark.parametrize(
    "slot",
    [
        {"time": "08:00", "questions": ["dinner"]},
        {"time": "08:00", "reask_offsets_min": [20, 10]},
        {"time": "08:00", "window_min": 30, "reask_offsets_min": [10, 30]},
        {"time": "08:00", "reask_offsets_min": [0]},
        {"time": "08:00", "reask_offsets_min": [5, 10, 15, 20]},
    ],
)
def test_bad_slot_questions_or_reasks_are_422(live_cloud: LiveCloud, slot: dict) -> None:
    hh = live_cloud.household()
    r = live_cloud.admin("PUT", f"/households/{hh['id']}/slots", json=[slot])
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"}
    assert live_cloud.admin_ok("GET", f"/households/{hh['id']}")["slots"][0]["questions"] == [
        "health"
    ]


def test_unknown_household_is_404(live_cloud: LiveCloud) -> None:
    r = live_cloud.admin("PATCH", f"/households/{uuid.uuid4()}/settings", json={"tts_speed": 1})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_cli_set_household(cloud_server) -> None:  # type: ignore[no-untyped-def]
    def last(*args: str) -> str:
        return cloud_server.cli(*args).strip().splitlines()[-1]

    muni = last("create-municipality", "--name", "横浜市")
    office = last("create-office", "--municipality", muni, "--name", "港北郵便局")
    household = last("create-household", "--office", office, "--name", "山田 花子")
    version = int(
        last(
            "set-household",
            "--household",
            household,
            "--tts-speed",
            "0.75",
            "--tts-volume",
            "1.8",
            "--share-transcripts",
            "--quiet-hours",
            "21:30-06:00",
            "--inactivity-deadline",
            "none",
        )
    )
    assert version == 2  # created at 1
    engine = create_engine(cloud_server.database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT tts_speed, tts_volume, share_transcripts, quiet_start, quiet_end, "
                "inactivity_deadline, config_version FROM households WHERE id = :id"
            ),
            {"id": household},
        ).one()
    engine.dispose()
    assert tuple(row) == (0.75, 1.8, 1, "21:30", "06:00", None, 2)
    off = last("set-household", "--household", household, "--no-share-transcripts")
    assert int(off) == 3
    with pytest.raises(RuntimeError, match="quiet"):
        cloud_server.cli("set-household", "--household", household, "--quiet-hours", "9pm")


def _existing_household_survives_upgrade(url: str) -> None:
    """A household made before 0003 gets the defaults the gateway assumed until now."""
    cfg = alembic_config(url)
    command.upgrade(cfg, "0002")
    engine = create_engine(url)
    now = datetime(2026, 11, 27, tzinfo=UTC)
    ids = {name: str(uuid.uuid4()) for name in ("m", "o", "h", "s")}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO municipalities (id, name, timezone, created_at) "
                "VALUES (:m, '市', 'Asia/Tokyo', :now)"
            ),
            {**ids, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO post_offices (id, municipality_id, name, created_at) "
                "VALUES (:o, :m, '局', :now)"
            ),
            {**ids, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO households (id, office_id, timezone, language, active, "
                "config_version, created_at) VALUES (:h, :o, 'Asia/Tokyo', 'ja', true, 4, :now)"
            ),
            {**ids, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO schedule_slots (id, household_id, name, time, window_min, grace_min) "
                "VALUES (:s, :h, 'morning', '08:00', 30, 5)"
            ),
            ids,
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        household = conn.execute(
            text(
                "SELECT tts_speed, tts_volume, share_transcripts, quiet_start, quiet_end, "
                "inactivity_deadline FROM households"
            )
        ).one()
        slot = conn.execute(text("SELECT questions, reask_offsets_min FROM schedule_slots")).one()
    assert tuple(household) == (1.0, 1.0, False, "21:00", "06:30", "10:00")
    # JSON comes back decoded on PostgreSQL (jsonb) and as text on SQLite.
    assert [str(v).replace(" ", "") for v in slot] in (
        ['["health"]', "[10,20]"],
        ["['health']", "[10,20]"],
    )
    command.downgrade(cfg, "0002")
    command.upgrade(cfg, "head")
    engine.dispose()


def test_migration_0003_on_existing_rows_sqlite(tmp_path: Path) -> None:
    _existing_household_survives_upgrade(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.postgres
def test_migration_0003_on_existing_rows_postgresql(postgres_url: str) -> None:
    _existing_household_survives_upgrade(postgres_url)
