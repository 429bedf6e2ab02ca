"""The demo's mail page shows the sender as the family's mail client does: the office's
name whole (「さくら中央郵便局 見守りサービス」), not split where the header was folded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cloud.mail.sender import build_message
from mimamori_dev.mailview import render_message


class _Mail:
    def __init__(self) -> None:
        self.id = "00000000-0000-4000-8000-000000000000"
        self.subject = "【見守り】助けの要請がありました（高橋 キヨ様）"
        self.to_addr = "高橋 誠 <makoto@example.jp>"
        self.headers = {"X-Mimamori-Sender-Name": "さくら中央郵便局 見守りサービス"}
        self.text_body, self.html_body = "本文", None


def test_sender_and_recipient_names_show_whole(tmp_path: Path) -> None:
    msg = build_message(_Mail(), "noreply@mimamori.invalid", datetime.now(UTC))
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]  # the names went out encoded, folded
    path = tmp_path / "1-00001.eml"
    path.write_bytes(raw)
    page = render_message(path)
    assert "さくら中央郵便局 見守りサービス &lt;noreply@mimamori.invalid&gt;" in page
    assert "高橋 誠 &lt;makoto@example.jp&gt;" in page
    assert "【見守り】助けの要請がありました（高橋 キヨ様）" in page
