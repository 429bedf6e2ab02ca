"""A daily report queued at the deadline says 応答なし; the resident answers a few minutes
late, before the report is sent: the family gets the corrected report (the answer and its
time), once, not the stale one (issue 18). Real HTTP upload of the late answer, real worker
passes, real SMTP sink, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cloud.mail import daily_report
from cloud.models import DailyReportLog, OutboxMail
from mimamori_dev.services import SmtpSink

DEADLINE = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)  # 08:35 in Tokyo on the 27th


def _report_text(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_body(("plain",)).get_content()


def _late_answer_before_the_report_goes(cloud, sink: SmtpSink, answer: bool) -> list:  # type: ignore[no-untyped-def]
    hh = cloud.household(slots=["08:00"], contacts=0)
    cloud.admin_ok(
        "POST",
        f"/households/{hh['id']}/contacts",
        json={"name": "山田 次郎", "email": "jiro@example.jp", "daily_report": True},
    )
    gw = cloud.enroll(hh["id"])
    cloud.travel(DEADLINE - timedelta(minutes=1))
    gw.heartbeat()
    cloud.travel(DEADLINE + timedelta(seconds=5))
    cloud.worker.detect()  # the day's report is queued now, saying 応答なし
    with cloud.sessions() as session:
        [queued] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "daily_report"))
    assert "応答なし" in queued.text_body
    if answer:
        cloud.travel(DEADLINE + timedelta(minutes=3))  # 08:38: late, before any send
        assert gw.answer("morning").status_code == 200
    before = len(sink.messages)
    cloud.worker.send_mail()
    cloud.worker.send_mail()  # a reissued report goes in the pass after at the latest
    reports = [m for m in sink.messages[before:] if "ご様子" in str(m["Subject"])]
    with cloud.sessions() as session:
        logged = session.scalars(select(DailyReportLog)).all()
        rows = session.scalars(select(OutboxMail).where(OutboxMail.kind == "daily_report")).all()
    assert len(logged) == 1  # one report per contact and day, whatever happened
    sent = [r for r in rows if r.status == "sent"]
    assert [r.id for r in sent] == [logged[0].mail_id]
    assert all(daily_report.UNANSWERED_FIELD not in m for m in reports)  # never sent out
    return reports


def _check(cloud, sink: SmtpSink) -> None:  # type: ignore[no-untyped-def]
    [report] = _late_answer_before_the_report_goes(cloud, sink, answer=True)
    text = _report_text(report)
    assert "応答なし" not in text
    assert "8時の見守り: 元気（8:38）" in text


def test_late_answer_corrects_the_queued_report(live_cloud_factory, smtp_sink) -> None:
    _check(live_cloud_factory(smtp_port=smtp_sink.port), smtp_sink)


@pytest.mark.postgres
def test_late_answer_corrects_the_queued_report_postgresql(
    live_cloud_factory, smtp_sink, postgres_url: str
) -> None:
    _check(live_cloud_factory(database_url=postgres_url, smtp_port=smtp_sink.port), smtp_sink)


def test_no_answer_keeps_the_report(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    [report] = _late_answer_before_the_report_goes(cloud, smtp_sink, answer=False)
    assert "8時の見守り: 応答なし" in _report_text(report)
