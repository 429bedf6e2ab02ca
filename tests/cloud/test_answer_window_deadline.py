"""The cloud's side of the rule book's answer window: with a short grace and a late re-ask,
the missed check-in waits until the gateway's last dialogue can have been reported
(window end + MAX_DIALOGUE + UPLOAD_MARGIN), then opens as usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mimamori_rules import schedule as rules

# 2026-11-27 08:00 Tokyo; window 30, grace 0, re-asks at +10 and +28: the window ends at
# 08:33, the last dialogue is over by 08:37 and reported by 08:38 (slot + window + grace is
# only 08:30, when the resident may still be answering the last re-ask).
SLOT_AT = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
DEADLINE = SLOT_AT + timedelta(minutes=33) + rules.MAX_DIALOGUE + rules.UPLOAD_MARGIN


def test_a_short_grace_waits_for_the_last_dialogue_then_opens_the_missed_check_in(
    live_cloud,
) -> None:
    live_cloud.travel(SLOT_AT - timedelta(hours=1))
    hh = live_cloud.household(slots=["08:00"], contacts=1)
    live_cloud.admin_ok(
        "PUT",
        f"/households/{hh['id']}/slots",
        json=[
            {
                "time": "08:00",
                "name": "morning",
                "window_min": 30,
                "grace_min": 0,
                "reask_offsets_min": [10, 28],
            }
        ],
    )
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(DEADLINE - timedelta(minutes=3))  # 08:35: past slot + window + grace
    gw.heartbeat()
    for _ in range(3):
        live_cloud.run_worker()
    assert live_cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]}) == []
    live_cloud.travel(DEADLINE + timedelta(seconds=30))
    gw.heartbeat()
    for _ in range(3):
        live_cloud.run_worker()
    incidents = live_cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert [(i["cause"], i["slot"]) for i in incidents] == [("missed_checkin", "morning")]
