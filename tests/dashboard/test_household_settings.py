"""The household page's 音声・見守り設定 form: saved with CSRF, audited, scoped to the office,
Japanese errors in place, and the new values reach the gateway config."""

from __future__ import annotations

import re

import httpx

from mimamori_wire import v1
from tests.dashboard.conftest import World, csrf_of, enroll, login


def _form(token: str, **over: str | list[str]) -> dict[str, str | list[str]]:
    values: dict[str, str | list[str]] = {
        "csrf_token": token,
        "tts_speed": "0.8",
        "tts_volume": "1.5",
        "quiet_start": "20:00",
        "quiet_end": "07:00",
        "inactivity_deadline": "09:30",
        "share_transcripts": "1",
        "q_morning": ["medicine", "meal"],
        "q_evening": ["sleep"],
    }
    values.update(over)
    return values


def _gateway_config(gateway) -> v1.GatewayConfig:  # type: ignore[no-untyped-def]
    r = httpx.get(
        f"{gateway.base_url}/api/v1/gateway/config",
        headers={"Authorization": f"Bearer {gateway.token}"},
        timeout=10,
    )
    r.raise_for_status()
    return v1.GatewayConfig.model_validate(r.json())


def test_staff_saves_settings_and_the_gateway_gets_them(world: World) -> None:
    household = world.households["A"][0]
    gateway = enroll(world.server, household)
    before = _gateway_config(gateway)
    staff = login(world.server.base_url, world.users["staff_a"])
    page = staff.get(f"/households/{household}")
    assert "音声・見守り設定" in page.text and "話す速さ" in page.text
    token = csrf_of(staff, f"/households/{household}")

    saved = staff.post(f"/households/{household}/settings", data=_form(token))
    assert saved.status_code == 200, saved.text
    assert "設定を保存しました" in saved.text
    assert 'name="tts_speed" value="0.8"' in saved.text
    assert re.search(r'name="q_morning" value="medicine" checked', saved.text)
    assert not re.search(r'name="q_morning" value="sleep" checked', saved.text)

    cfg = _gateway_config(gateway)
    assert cfg.config_version == before.config_version + 1
    assert (cfg.tts_speed, cfg.tts_volume, cfg.share_transcripts) == (0.8, 1.5, True)
    assert cfg.quiet_hours == v1.QuietHours(start="20:00", end="07:00")
    assert cfg.inactivity_deadline == "09:30"
    slots = {s.name: s.questions for s in cfg.slots}
    assert slots == {
        "morning": [v1.Question.HEALTH, v1.Question.MEDICINE, v1.Question.MEAL],
        "evening": [v1.Question.HEALTH, v1.Question.SLEEP],
    }
    (audit,) = world.sql(
        "SELECT user_email, target_id, detail FROM audit_log WHERE action = 'household.settings'"
    )
    assert audit[0] == world.users["staff_a"] and audit[1] == household
    assert "tts_speed" in audit[2] and "questions.morning" in audit[2]

    # Unticking everything and clearing the deadline: health only, inactivity check off.
    cleared = staff.post(
        f"/households/{household}/settings",
        data=_form(token, inactivity_deadline="", q_morning=[], q_evening=[], share_transcripts=""),
    )
    assert cleared.status_code == 200
    cfg = _gateway_config(gateway)
    assert cfg.inactivity_deadline is None and cfg.share_transcripts is False
    assert all(s.questions == [v1.Question.HEALTH] for s in cfg.slots)
    staff.close()


def test_errors_are_japanese_in_place_and_nothing_is_saved(world: World) -> None:
    household = world.households["A"][1]
    staff = login(world.server.base_url, world.users["manager_a"])
    token = csrf_of(staff, f"/households/{household}")
    version = world.sql("SELECT config_version FROM households WHERE id = ?", (household,))[0][0]
    bad = staff.post(
        f"/households/{household}/settings",
        data=_form(token, tts_speed="3", tts_volume="大きく", quiet_start="25:00"),
    )
    assert bad.status_code == 422
    assert "話す速さは 0.5〜1.5 の数値で入力してください。" in bad.text
    assert "音量は 0.1〜2.0 の数値で入力してください。" in bad.text
    assert "静かな時間帯は「21:00」のような時刻" in bad.text
    assert 'id="err-tts_speed"' in bad.text
    assert 'name="tts_volume" value="大きく"' in bad.text  # what was typed comes back
    junk = staff.post(f"/households/{household}/settings", data=_form(token, q_morning=["dinner"]))
    assert junk.status_code == 422 and "質問項目を選び直してください。" in junk.text
    row = world.sql(
        "SELECT config_version, tts_speed, tts_volume FROM households WHERE id = ?", (household,)
    )[0]
    assert row == (version, 1.0, 1.0)
    staff.close()


def test_csrf_and_office_scope_are_enforced(world: World) -> None:
    household = world.households["A"][2]
    other_office = login(world.server.base_url, world.users["staff_b"])
    token = csrf_of(other_office)
    # Staff of another office cannot see the household, so cannot change it either.
    assert (
        other_office.post(f"/households/{household}/settings", data=_form(token)).status_code == 404
    )
    own = login(world.server.base_url, world.users["staff_a"])
    no_csrf = own.post(f"/households/{household}/settings", data=_form("forged"))
    assert no_csrf.status_code == 403
    row = world.sql("SELECT tts_speed FROM households WHERE id = ?", (household,))[0]
    assert row == (1.0,)
    other_office.close()
    own.close()
