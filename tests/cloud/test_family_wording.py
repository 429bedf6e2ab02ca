"""A family reads the resident named the same way on every channel: 「山田 花子様」 in the
alert mail, the LINE alert and the LINE follow-up (the LINE alert said 「さん」)."""

from __future__ import annotations

from pathlib import Path

from cloud.notify.outbox import alert_text

TEMPLATES = Path(__file__).resolve().parents[2] / "cloud" / "mail" / "templates"


def test_the_resident_is_様_on_line_as_in_the_mails() -> None:
    pushed = alert_text(
        {
            "resident_name": "山田 花子",
            "headline": "本日9時の見守りに応答がありません",
            "opened_at": "11月30日 9:35",
            "next_text": "",
            "office_name": "さくら中央郵便局",
            "office_phone": "0120-000-310",
        }
    )
    assert pushed.splitlines()[0] == "【見守り】山田 花子様"
    assert "さん" not in pushed
    for name in ("alert.subject.j2", "answered_late.line.j2", "gateway_back.line.j2"):
        assert "{{ resident_name }}様" in (TEMPLATES / name).read_text(), name
