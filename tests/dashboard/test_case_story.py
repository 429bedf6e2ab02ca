"""The case page tells the whole story, in the rendered HTML: an alert still queued when the
resident answered late was cancelled (never sent) and shows as 「取り消し」 with why, next to
what was sent; the household's timeline names the help button a help request came from. Real
escalation and late-answer code on the live server's SQLite database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.models import FamilyContact, Household, Incident, OutboxMail
from cloud.notify.base import CANCELLED
from cloud.services import incidents
from cloud.web import i18n
from cloud.web.deliveries import cancel_reason
from mimamori_wire import v1
from tests.dashboard.conftest import World, enroll, login


def _missed_and_alerted(world: World, clock: SettableClock) -> str:
    """A missed check-in of office A's first household whose alerts are queued, not sent
    (no sender runs), then the resident's late answer: the API's own resolve and follow-up."""
    engine = make_engine(world.server.database_url)
    sessions = make_sessionmaker(engine, clock)
    notifier = Notifier.from_settings(
        Settings(database_url=world.server.database_url, secret_key="t" * 32)
    )
    try:
        with transaction(sessions) as session:
            household = session.get_one(Household, world.households["A"][0])
            session.add(
                FamilyContact(
                    household_id=household.id,
                    name="山田 一郎",
                    email="ichiro@example.jp",
                    relationship_label="長男",
                )
            )
            session.flush()
            session.refresh(household)
            deadline = clock() - timedelta(minutes=30)
            incident = incidents.open_incident(
                session,
                household,
                "missed_checkin",
                deadline,
                base=deadline,
                slot=household.slots[0].name,
                slot_date=deadline.date(),
            )
            assert incident is not None
            incident_id = incident.id
        assert escalate_due(sessions, notifier, clock) > 0
        with transaction(sessions) as session:
            incident = session.get_one(Incident, incident_id)
            household = session.get_one(Household, incident.household_id)
            incidents.resolve(session, incident, "answered_late", "応答がありました", clock())
            notifier.answered_late(
                session, household, incident, {"occurred_at": clock(), "intent": "fine"}, clock()
            )
        with sessions() as session:
            statuses = session.scalars(
                select(OutboxMail.status).where(OutboxMail.incident_id == incident_id)
            ).all()
        assert statuses and set(statuses) == {CANCELLED}  # nobody alerted: no follow-up either
        return incident_id
    finally:
        engine.dispose()


def test_alerts_cancelled_by_a_late_answer_show_on_the_case_page_with_why(
    shared_world: World,
) -> None:
    world = shared_world
    incident_id = _missed_and_alerted(world, SettableClock(datetime.now(UTC)))
    staff = login(world.server.base_url, world.users["staff_a"])
    try:
        page = staff.get(f"/incidents/{incident_id}").text
    finally:
        staff.close()
    why = i18n.text("reason_cancelled_answered_late", "ja")
    deliveries = page.split('id="case-deliveries-table"')[1].split("</table>")[0]
    cancelled = re.findall(r'<tr class="dlv [^"]*dlv-row-cancelled.*?</tr>', deliveries, re.S)
    assert cancelled, deliveries
    assert any("山田 一郎" in row for row in cancelled)
    for row in cancelled:
        assert "取り消し" in row and why in row
    history = page.split('id="case-history"')[1].split("</table>")[0]
    assert "取り消し" in history and why in history
    assert "mail_cancelled" not in page and "reason_cancelled" not in page  # no raw keys
    # Nobody at the desk closed it: the answer did, and the page says so.
    assert "対応完了: 自動 — 遅れて応答" in re.sub(r"\s+", " ", history)


def test_why_an_alert_was_cancelled_is_always_a_labelled_reason() -> None:
    assert cancel_reason("answered_late") == "cancelled_answered_late"
    assert cancel_reason("cancelled: gateway_back") == "cancelled_gateway_back"
    for odd in (None, "", "cancelled: teapot", "gateway_back "):
        assert cancel_reason(odd) == "cancelled_other"
    for code in ("answered_late", "gateway_back", "other"):
        assert not i18n.text(f"reason_cancelled_{code}", "ja").isascii()


def test_timeline_names_the_help_button_a_help_request_came_from(shared_world: World) -> None:
    household = shared_world.households["A"][1]
    enroll(shared_world.server, household).post(
        v1.EventKind.HELP_REQUESTED, {"source": "button", "device": "A4:C1:38:00:02:03"}
    )
    staff = login(shared_world.server.base_url, shared_world.users["staff_a"])
    try:
        page = staff.get(f"/households/{household}").text
    finally:
        staff.close()
    timeline = page.split('id="timeline"')[1].split("</table>")[0]
    row = next(r for r in timeline.split("<tr")[1:] if "k-help-requested" in r)
    assert "見守りボタン" in row and "センサー" not in row, row


def test_staff_who_cannot_start_a_safety_check_are_told_who_does(shared_world: World) -> None:
    staff = login(shared_world.server.base_url, shared_world.users["staff_a"])
    admin = login(shared_world.server.base_url, shared_world.users["admin_m1"])
    try:
        for_staff, for_admin = staff.get("/safety").text, admin.get("/safety").text
    finally:
        staff.close()
        admin.close()
    assert 'id="safety-who-starts"' in for_staff and "自治体の管理者" in for_staff
    assert 'id="safety-form"' not in for_staff
    assert 'id="safety-form"' in for_admin and 'id="safety-who-starts"' not in for_admin
