"""What alert mails say, read from the real mails the SMTP server (aiosmtpd) received.

Both parts (text and HTML, what a phone mail app shows) carry the cause, the urgency and the
real next step with its real time; the sender is the office; staff get a short case number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import pytest

from cloud.mail.alert_text import case_number
from mimamori_wire import v1

START_JST = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 08:00 JST


def _parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    return text, html


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _by_recipient(mails: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {parseaddr(m["To"])[1]: m for m in mails}


def _help_household(cloud, slot: str = "12:00"):  # type: ignore[no-untyped-def]
    """A household whose gateway is heard from; its slot is not due during the test."""
    hh = cloud.household(slots=[slot], contacts=1)
    gw = cloud.enroll(hh["id"])
    cloud.travel(START_JST)
    gw.heartbeat()
    return hh, gw


def _open_and_mail(cloud, smtp_sink, gw, event):  # type: ignore[no-untyped-def]
    gw.heartbeat()
    assert gw.post(event).status_code < 300
    cloud.run_worker()
    cloud.run_worker()
    # family (step 0) and the office (step 1) at once
    return _by_recipient(smtp_sink.wait_for(2, timeout=10))


@pytest.mark.parametrize(
    ("source", "said", "not_said"),
    [
        ("button", "見守りボタンで「助けて」の操作がありました", "とのお声がありました"),
        ("voice", "ご本人から「助けて」とのお声がありました", "の操作がありました"),
    ],
)
def test_help_mail_says_the_trigger_the_urgency_and_the_real_next_step(
    live_cloud_factory, smtp_sink, source: str, said: str, not_said: str
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    _, gw = _help_household(cloud)
    cloud.travel(START_JST + timedelta(minutes=59))  # 08:59 JST
    event = gw.event(v1.EventKind.HELP_REQUESTED, v1.HelpRequested(source=v1.AnswerSource(source)))
    mails = _open_and_mail(cloud, smtp_sink, gw, event)
    family, staff = mails["family0@example.jp"], mails["office@example.jp"]
    for mail in (family, staff):
        text, html = _parts(mail)
        for part in (text, _visible(html)):
            assert said in part and not_said not in part
            assert "至急ご確認ください" in part
            # The manager/municipality step is at +60 min: 9:59, never the opening minute.
            assert "9:59までに担当者がご本人の無事を確認できない場合は、郵便局長と自治体" in part
            assert "8:59までに" not in part
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        # The office is the sender's display name (RFC 2047 on the wire), the address the
        # configured one.
        name, addr = parseaddr(str(mail["From"]))
        assert name == "港北郵便局 見守りサービス"
        assert addr == "noreply@mimamori.invalid"
        assert "X-Mimamori-Sender-Name" not in mail
    family_text, family_html = _parts(family)
    assert "港北郵便局の担当者にも同時にお知らせしています" in family_text
    assert "山田 花子様ご本人と連絡がとれましたら" in family_text
    assert "山田 花子様ご本人と連絡がとれましたら" in _visible(family_html)
    # A family click does not stop a help case: the mail must not promise it does.
    assert "そこで止まります" not in family_text
    assert "担当者が確認するまで連絡は続きます" in family_text
    staff_text, staff_html = _parts(staff)
    assert "ご家族にも同時にメールでお知らせしています" in staff_text
    # Staff are not told to call themselves; they get a short case number, not a UUID.
    assert "お問い合わせください" not in staff_text + _visible(staff_html)
    incident_id = staff["X-Mimamori-Incident"]
    assert f"案件番号: {case_number(incident_id)}" in staff_text
    assert case_number(incident_id) in staff_html
    assert incident_id not in re.sub(r"https?://\S+", "", staff_text)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", case_number(incident_id))


def test_unwell_mail_is_urgent_in_both_parts(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    _, gw = _help_household(cloud, "08:00")
    cloud.travel(START_JST + timedelta(minutes=2))
    answered = v1.CheckinAnswered(
        slot="morning", intent=v1.Intent.UNWELL, confidence=0.9, attempts=1
    )
    mails = _open_and_mail(cloud, smtp_sink, gw, gw.event(v1.EventKind.CHECKIN_ANSWERED, answered))
    for mail in mails.values():
        text, html = _parts(mail)
        for part in (text, _visible(html)):
            assert "「元気がない」とのお答えがありました" in part
            assert "おたずねに「元気がない」とお答え" not in part  # not said twice in a row
            assert "見守り機が体調をおたずねしたとき" in part
            assert "至急ご確認ください" in part
            assert "9:02までに" in part  # the manager step at +60 min


def test_missed_checkin_family_mail_names_the_staff_step_and_its_time(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    deadline = START_JST + timedelta(minutes=35)  # 08:35 JST
    cloud.travel(deadline - timedelta(minutes=1))
    gw.heartbeat()
    cloud.travel(deadline + timedelta(seconds=1))
    cloud.run_worker()  # re-prompt
    cloud.travel(deadline + timedelta(minutes=5, seconds=1))
    cloud.run_worker()  # family at +5
    [mail] = smtp_sink.wait_for(1, timeout=10)
    text, html = _parts(mail)
    for part in (text, _visible(html)):
        assert "見守り機でのお返事が確認できませんでした" in part
        assert "8:50までに確認がとれない場合は、港北郵便局の担当者へ" in part  # staff at +15
        assert "至急" not in part
        # A missed check-in may be closed by the family (the default chain acknowledges).
        assert "担当者への連絡はそこで止まります" in part  # the family page's words
        assert "緊急のお知らせは引き続き届きます" in part


def test_safety_needs_help_mail_is_urgent(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    _, gw = _help_household(cloud)
    answered = v1.SafetyCheckAnswered(check_id="check-1", status="needs_help")
    mails = _open_and_mail(
        cloud, smtp_sink, gw, gw.event(v1.EventKind.SAFETY_CHECK_ANSWERED, answered)
    )
    for mail in mails.values():
        text, html = _parts(mail)
        for part in (text, _visible(html)):
            assert "「助けが必要」とのお答えがありました" in part
            assert "至急ご確認ください" in part
            assert "9:00までに" in part
