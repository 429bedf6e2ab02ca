"""What staff read about deliveries (cloud/web/deliveries.py, cloud/web/line_link.py), pure:
every failure reason, channel, status, LINE state and channel preference has its Japanese
label; any last_error maps to a known reason; the LINE-to-mail fallback marks both rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cloud.models import FamilyContact
from cloud.notify.base import CHANNELS
from cloud.notify.outbox import PREFS
from cloud.web import i18n
from cloud.web.deliveries import FAILURE_REASONS, delivery_rows, failure_reason, staff_step
from cloud.web.line_link import line_state, qr_svg

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
STATUSES = ("sent", "pending", "retrying", "failed", "switched")


def _japanese(key: str) -> str:
    label = i18n.text(key, "ja")
    assert key in i18n.TEXT and label != key, f"no label for {key}"
    return label


def test_every_code_staff_can_meet_has_a_japanese_label() -> None:
    for code in [*FAILURE_REASONS, "other"]:
        assert not _japanese(f"reason_{code}").isascii()
    assert [_japanese(f"channel_{c}") for c in CHANNELS] == ["メール", "LINE"]
    assert [_japanese(f"dlv_{s}") for s in STATUSES] == [
        "送信済み",
        "送信待ち",
        "再送待ち",
        "失敗",
        "メールに切替",
    ]
    assert [_japanese(f"line_state_{s}") for s in ("linked", "unlinked", "blocked")] == [
        "連携済み",
        "未連携",
        "ブロック中",
    ]
    for pref in PREFS:
        assert not _japanese(f"chpref_{pref}").isascii()
    assert _japanese("note_callback_request") == "電話の依頼"
    assert i18n.label("audit", "contact.line_code") == "LINE連携コードの発行"


@given(st.text(max_size=80))
def test_any_last_error_maps_to_a_labelled_reason(last_error: str) -> None:
    assert failure_reason(last_error) in FAILURE_REASONS | {"other"}


def test_reasons_as_the_sender_writes_them() -> None:
    assert failure_reason("line_blocked: 400 The user blocked the account") == "line_blocked"
    assert failure_reason("max_attempts (8): smtp: 451 greylisted") == "max_attempts"
    assert failure_reason("smtp_5xx: 550 no such user") == "smtp_5xx"
    assert failure_reason(None) == failure_reason("") == failure_reason("teapot: 418") == "other"


def test_steps_count_from_one_and_follow_ups_have_none() -> None:
    assert [staff_step(s) for s in (0, 1, -1, None)] == [1, 2, None, None]


def _delivery(channel: str, contact: str | None, step: int | None, **extra: object) -> dict:
    return {
        "channel": channel,
        "to": "office@example.jp",
        "contact_id": contact,
        "step": step,
        "kind": "alert.family",
        "status": "sent",
        "attempts": 1,
        "sent_at": None,
        "created_at": T0,
        "fallback": False,
        "error": None,
        **extra,
    }


def test_fallback_marks_the_line_row_switched_and_the_mail_row_as_its_replacement() -> None:
    hanae = FamilyContact(id="c1", name="山田 花江", relationship_label="長女")
    rows = delivery_rows(
        "inc",
        [
            _delivery("line", "c1", 0, status="failed", error="line_blocked: 400"),
            _delivery("email", "c1", 0, fallback=True, sent_at=T0 + timedelta(seconds=5)),
            _delivery("line", "c2", 0, status="failed", error="line_auth: 401"),
            _delivery("email", None, 1, status="pending", attempts=2),
            _delivery("email", None, -1, status="pending", attempts=0),
        ],
        {"c1": hanae},
    )
    assert [(r.channel, r.status, r.reason, r.fallback) for r in rows] == [
        ("line", "switched", "line_blocked", False),
        ("email", "sent", None, True),
        ("line", "failed", "line_auth", False),  # nobody replaced it: staff must call
        ("email", "retrying", None, False),
        ("email", "pending", None, False),
    ]
    assert (rows[0].name, rows[0].relationship, rows[0].step) == ("山田 花江", "長女", 1)
    assert rows[1].at == T0 + timedelta(seconds=5)  # sent time when sent, else queued
    assert rows[3].name == "office@example.jp" and rows[4].step is None


def test_a_staff_alert_counts_as_its_chain_step_and_a_cancelled_alert_says_why() -> None:
    rows = delivery_rows(
        "inc",
        [
            _delivery("email", None, None, id="m-staff"),  # the office: no step of its own
            _delivery("email", None, None, id="m-follow-up"),  # a follow-up: no step at all
            _delivery("email", "c1", 1, status="cancelled", cancelled_by="answered_late"),
        ],
        {},
        {"m-staff": 2},
    )
    assert [r.step for r in rows] == [3, None, 2]
    assert (rows[2].status, rows[2].reason) == ("cancelled", "cancelled_answered_late")
    assert _japanese("dlv_cancelled") == "取り消し"


def test_line_state_of_a_contact() -> None:
    assert line_state(FamilyContact(line_user_id="U1")) == "linked"
    assert line_state(FamilyContact(line_user_id=None, line_blocked_at=T0)) == "blocked"
    assert line_state(FamilyContact(line_user_id=None, line_blocked_at=None)) == "unlinked"


def test_qr_code_is_inline_svg_without_script_or_style() -> None:
    svg = str(qr_svg("https://lin.ee/abc?x=<y>", "友だち<追加>"))
    assert svg.startswith('<svg role="img" ') and svg.endswith("</svg>")
    assert "<title>友だち&lt;追加&gt;</title>" in svg
    assert "<script" not in svg and "style=" not in svg and "href" not in svg
