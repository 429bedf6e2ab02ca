"""One rule for "late" on the board and the desk; households without a gateway are not checked.

Real HTTP, the real worker and a real SMTP server, with the injected clock: the board's slot
turns 「応答なし」 at the very instant the detector opens the incident the desk shows, and a
household whose gateway was never enrolled (未設置) gets no incident, no mail and no report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.models import Checkin, Household, Incident, OutboxMail
from cloud.schedule import SlotSpec
from cloud.web.routes.board import slot_status
from mimamori_wire import v1

DEADLINE = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)  # 08:00 slot + 30 + 5 min, JST
SPEC = SlotSpec("morning", "08:00", 30, 5)


def _board(cloud, household_id: str, watched: bool = True) -> str:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        checkin = session.scalars(
            select(Checkin).where(Checkin.household_id == household_id)
        ).first()
    return slot_status(SPEC, checkin, False, cloud.clock(), "Asia/Tokyo", watched).status


def _open(cloud, household_id: str) -> list[Incident]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return list(session.scalars(select(Incident).where(Incident.household_id == household_id)))


def test_board_turns_late_at_the_instant_the_desk_gets_the_incident(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00"])
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(datetime(2026, 11, 26, 23, 31, tzinfo=UTC))  # 08:31: window over
    gw.heartbeat()
    # The gateway gave up asking: the board must not be red before the desk has a case.
    no_answer = v1.CheckinNoResponse(slot="morning", attempts=3)
    assert gw.post(gw.event(v1.EventKind.CHECKIN_NO_RESPONSE, no_answer)).status_code < 300
    for before in (timedelta(minutes=3), timedelta(seconds=1)):
        live_cloud.travel(DEADLINE - before)
        live_cloud.run_worker()
        assert _open(live_cloud, hh["id"]) == []
        assert _board(live_cloud, hh["id"]) == "waiting"
    live_cloud.travel(DEADLINE)
    live_cloud.run_worker()
    assert [i.cause for i in _open(live_cloud, hh["id"])] == ["missed_checkin"]
    assert _board(live_cloud, hh["id"]) == "missed"


def test_household_without_a_gateway_is_not_checked(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00", "19:00"], contacts=1)
    cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/contacts",
        json={"name": "山田 次郎", "email": "jiro@example.jp", "daily_report": True},
    )
    # Two days of deadlines pass; the detector handles each one (the deadline moves on).
    for hours in (1, 12, 25, 36):
        cloud.travel(DEADLINE + timedelta(hours=hours))
        cloud.run_worker()
    assert _open(cloud, hh["id"]) == []  # no missed check-in, no "gateway offline"
    with cloud.sessions() as session:
        assert session.scalars(select(OutboxMail)).all() == []  # no 「途絶えています」 mail
        household = session.get_one(Household, hh["id"])
        assert household.next_deadline is not None and household.next_deadline > DEADLINE
    assert smtp_sink.messages == []
    assert _board(cloud, hh["id"], watched=False) == "unwatched"  # 「未設置」, not 「応答なし」

    # Once a gateway is enrolled, the household is watched like any other.
    gw = cloud.enroll(hh["id"])
    gw.heartbeat()
    with cloud.sessions() as session:
        upcoming = session.get_one(Household, hh["id"]).next_deadline
    cloud.travel(upcoming + timedelta(seconds=1))
    cloud.run_worker()
    assert [i.cause for i in _open(cloud, hh["id"])] == ["gateway_offline"]
