"""The family's unsubscribe headers reach their mail client as RFC 2369 / RFC 8058 say:
`List-Unsubscribe: <https://...>` on one line, never RFC 2047 encoded-words (the default
folding encodes any token longer than a line, and a signed URL is; a client cannot read
`=?utf-8?q?=3Chttp...?=` as a URL and would silently offer no one-click unsubscribe). The
Japanese headers around them stay encoded and within the line limit."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cloud.mail.sender import build_message

SIGNED = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
    min_size=1,
    max_size=600,
)


class _Mail:
    """An outbox row as build_message reads it."""

    def __init__(self, url: str) -> None:
        self.id = "00000000-0000-4000-8000-000000000000"
        self.subject = "【見守り】本日9時の見守りに応答がありません（山田 花子様）"
        self.to_addr = "山田 美咲 <misaki@example.jp>"
        self.headers = {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Mimamori-Sender-Name": "さくら中央郵便局 見守りサービス",
        }
        self.text_body, self.html_body = "本文", "<p>本文</p>"


@given(token=SIGNED, host=st.sampled_from(["https://mimamori.example.jp", "http://127.0.0.1:8000"]))
def test_unsubscribe_url_is_sent_as_it_is_whatever_its_length(host: str, token: str) -> None:
    url = f"{host}/family/unsubscribe/{token}"
    raw = build_message(_Mail(url), "noreply@mimamori.invalid", datetime.now(UTC)).as_bytes()
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert f"List-Unsubscribe: <{url}>".encode() in lines
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert all(len(line) <= 998 for line in lines)
    subject = next(line for line in lines if line.startswith(b"Subject:"))
    assert subject.startswith(b"Subject: =?utf-8?")  # Japanese stays encoded
    assert all(len(line) <= 78 for line in lines if not line.startswith(b"List-"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["Subject"] == _Mail(url).subject
