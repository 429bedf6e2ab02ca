"""The care desk's queries and JSON columns on PostgreSQL (production database): contacts
with phones and roles in calling order, resident details, calls and notes that survive
resolution, the case file, the household timeline, handover and print views."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mimamori_dev.services import CloudServer
from mimamori_wire import v1
from tests.dashboard.conftest import build_world, enroll, login
from tests.dashboard.test_care_desk import _add_taro, _post


@pytest.mark.postgres
def test_care_desk_on_postgresql(
    postgres_url: str, start_cloud: Callable[..., CloudServer]
) -> None:
    server = start_cloud(database_url=postgres_url)
    world = build_world(server)
    household = world.households["A"][0]
    staff = login(server.base_url, world.users["staff_a"])
    try:
        taro = _add_taro(staff, household)
        doctor = _post(
            staff,
            f"/households/{household}/contacts",
            name="中央クリニック",
            phone1="03-5555-0000",
            roles="doctor",
        )
        doctor_id = re.findall(r'id="contact-([0-9a-f-]{36})"', doctor.text)[-1]
        moved = _post(staff, f"/households/{household}/contacts/{doctor_id}/move", direction="up")
        assert moved.text.index(doctor_id) < moved.text.index(taro)
        details = _post(
            staff,
            f"/households/{household}/details",
            phone1="03-1234-5678",
            birth_date="1936-04-01",
            visitor_notes="犬がいる",
        )
        assert 'href="tel:+81312345678"' in details.text and "1936年生" in details.text

        enroll(server, household).post(v1.EventKind.HELP_REQUESTED, {"source": "voice"})
        desk = staff.get("/").text
        incident_id = desk.split('data-id="')[1].split('"')[0]
        assert 'href="tel:+819011112222"' in desk and "かかりつけ医" in desk
        called = _post(
            staff,
            f"/incidents/{incident_id}/call",
            target="山田 太郎|090-1111-2222",
            call_result="answered",
        )
        assert called.status_code == 303
        _post(staff, f"/incidents/{incident_id}/resolve", outcome="safe", back="case")
        _post(staff, f"/incidents/{incident_id}/note", kind="visit", text="翌朝訪問、元気")
        case = staff.get(f"/incidents/{incident_id}").text
        for text in ("応答あり", "翌朝訪問、元気", "無事を確認", "佐藤 一郎"):
            assert text in case, text
        timeline = staff.get(f"/households/{household}").text
        assert "応答あり" in timeline and "翌朝訪問、元気" in timeline
        handover = staff.get("/handover").text
        assert "翌朝訪問、元気" in handover and "対応完了" in handover
        sheet = staff.get(f"/households/{household}/print").text
        assert "犬がいる" in sheet and "tel:+81355550000" in sheet
        paused = _post(staff, f"/households/{household}/pauses", reason="入院", end_date="")
        assert "休止中" in paused.text
        # Another office's case and household stay hidden on PostgreSQL too.
        other = login(server.base_url, world.users["staff_b"])
        try:
            assert other.get(f"/incidents/{incident_id}").status_code == 404
            assert other.get(f"/households/{household}/print").status_code == 404
        finally:
            other.close()
    finally:
        staff.close()
