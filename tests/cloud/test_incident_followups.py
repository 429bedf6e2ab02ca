"""Safety-check "needs help" escalates like help; a returning gateway closes its offline
incident and tells whoever was alarmed. Real HTTP, real SQLite, real SMTP, travelling in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.models import Incident
from cloud.models.staff import IncidentNote
from mimamori_wire import v1

JST_0835 = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)  # deadline of the 08:00 slot


def _incidents(cloud, household_id):  # type: ignore[no-untyped-def]
    return cloud.admin_ok("GET", "/incidents", params={"household_id": household_id})


def _text(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_body(preferencelist=("plain",)).get_content()


def _safety(gw, status: str):  # type: ignore[no-untyped-def]
    payload = {"check_id": "check-1", "status": status}
    return gw.post(gw.event(v1.EventKind.SAFETY_CHECK_ANSWERED, payload))


def test_safety_needs_help_opens_one_incident_mailing_family_and_staff(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(hours=1))
    assert _safety(gw, "safe").status_code == 200
    assert _incidents(cloud, hh["id"]) == []  # "safe" and "no answer" alarm nobody
    assert _safety(gw, "needs_help").status_code == 200
    assert _safety(gw, "needs_help").status_code == 200  # asked twice: still one incident
    [incident] = _incidents(cloud, hh["id"])
    assert (incident["cause"], incident["state"]) == ("safety_needs_help", "open")
    cloud.run_worker()
    mails = smtp_sink.wait_for(2, timeout=10)
    assert sorted(m["To"] for m in mails) == ["family0@example.jp", "office@example.jp"]
    family = next(m for m in mails if m["To"] == "family0@example.jp")
    assert "安否確認" in family["Subject"]
    assert "災害時の安否確認" in _text(family) and "助けが必要" in _text(family)
    assert "連絡がとれました: http" in _text(family)  # the one-click acknowledgement link


def test_gateway_back_resolves_offline_incident_and_tells_the_notified(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(hours=2))
    gw.heartbeat()  # then silence: the gateway lost power
    cloud.travel(JST_0835 + timedelta(minutes=15, seconds=5))
    cloud.run_worker()  # gateway_offline opened, family step (15 min) ran
    [alert] = smtp_sink.wait_for(1, timeout=10)
    assert "途絶えています" in alert["Subject"]
    [incident] = _incidents(cloud, hh["id"])

    cloud.travel(JST_0835 + timedelta(minutes=20))
    assert gw.heartbeat().commands == []  # power is back
    after = cloud.admin_ok("GET", f"/incidents/{incident['id']}")
    assert (after["state"], after["outcome"]) == ("resolved", "gateway_back")
    assert "再接続" in after["note"]
    with cloud.sessions() as session:
        notes = session.scalars(
            select(IncidentNote).where(IncidentNote.incident_id == incident["id"])
        ).all()
    assert [(n.kind, n.text) for n in notes] == [("system", "見守り機が再接続しました")]
    cloud.run_worker()
    mails = smtp_sink.wait_for(2, timeout=10)
    back = mails[1]
    assert back["To"] == "family0@example.jp" and "再接続" in back["Subject"]
    assert "8:55に再び接続しました" in _text(back)
    # The next heartbeat finds nothing to close and sends nothing more.
    gw.heartbeat()
    cloud.run_worker()
    assert len(smtp_sink.messages) == 2


def test_slot_missed_while_offline_still_becomes_a_missed_checkin(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00"])
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(JST_0835 - timedelta(hours=2))
    gw.heartbeat()
    live_cloud.travel(JST_0835 + timedelta(seconds=5))
    live_cloud.run_worker()
    assert [i["cause"] for i in _incidents(live_cloud, hh["id"])] == ["gateway_offline"]
    # Only the uplink was down: the gateway asked at 08:00 and nobody answered. It comes
    # back, uploads that, then heartbeats.
    live_cloud.travel(JST_0835 + timedelta(minutes=10))
    asked = JST_0835 - timedelta(minutes=5)
    payload = {"slot": "morning", "attempts": 3}
    gw.post(gw.event(v1.EventKind.CHECKIN_NO_RESPONSE, payload, occurred_at=asked))
    gw.heartbeat()
    states = {i["cause"]: i["state"] for i in _incidents(live_cloud, hh["id"])}
    assert states == {"gateway_offline": "resolved", "missed_checkin": "open"}
    with live_cloud.sessions() as session:
        missed = session.scalars(select(Incident).where(Incident.cause == "missed_checkin")).one()
    assert (missed.slot, missed.next_step) == ("morning", 0)  # its chain starts now: re-prompt
    live_cloud.run_worker()
    assert [c.payload.slot for c in gw.heartbeat().commands] == ["morning"]


def test_later_answer_in_the_same_upload_means_no_missed_checkin(live_cloud) -> None:
    hh = live_cloud.household(slots=["08:00", "12:00"])
    gw = live_cloud.enroll(hh["id"])
    live_cloud.travel(JST_0835 - timedelta(hours=2))
    gw.heartbeat()
    live_cloud.travel(JST_0835 + timedelta(seconds=5))
    live_cloud.run_worker()
    live_cloud.travel(JST_0835 + timedelta(hours=4))
    silent = gw.event(
        v1.EventKind.CHECKIN_NO_RESPONSE,
        {"slot": "morning", "attempts": 3},
        occurred_at=JST_0835 - timedelta(minutes=5),
    )
    fine = gw.event(
        v1.EventKind.CHECKIN_ANSWERED,
        {"slot": "noon", "intent": "fine", "confidence": 0.9, "attempts": 1},
        occurred_at=JST_0835 + timedelta(hours=3, minutes=30),
    )
    assert gw.post(silent, fine).status_code == 200
    gw.heartbeat()
    causes = [i["cause"] for i in _incidents(live_cloud, hh["id"]) if i["state"] != "resolved"]
    assert "missed_checkin" not in causes
