"""The worker walks every slot's deadline, even two slots ending at the same moment.

Before the rule book's (deadline, date, slot) order the worker moved on to "strictly after
the deadline just handled", so the second slot below was never checked: its resident could
miss it and nobody would be told.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mimamori_wire import v1

# 2026-11-27 in Tokyo: morning 08:00 + 60 + 5 and second 08:30 + 30 + 5 both end at 09:05.
DEADLINE = datetime(2026, 11, 27, 0, 5, tzinfo=UTC)


def test_a_second_slot_with_the_same_deadline_is_checked_too(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00"], contacts=1)
    live_cloud.admin_ok(
        "PUT",
        f"/households/{hh['id']}/slots",
        json=[
            {"time": "08:00", "name": "morning", "window_min": 60, "grace_min": 5},
            {"time": "08:30", "name": "second", "window_min": 30, "grace_min": 5},
        ],
    )
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(DEADLINE - timedelta(minutes=50))  # 08:15 Tokyo
    gw.heartbeat()
    assert gw.answer("morning").status_code == 200  # the first slot is answered ...
    live_cloud.travel(DEADLINE - timedelta(minutes=2))
    gw.heartbeat()  # ... the gateway is up, and the second slot goes unanswered
    live_cloud.travel(DEADLINE + timedelta(seconds=30))
    for _ in range(3):  # a pass may handle one deadline per household
        live_cloud.run_worker()
    incidents = live_cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert [(i["cause"], i["slot"]) for i in incidents] == [("missed_checkin", "second")]
    assert v1.CommandKind.REPROMPT in {c.kind for c in gw.heartbeat().commands}
