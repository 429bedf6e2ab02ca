"""One bad mail never holds up another (issue 13, findings 4 and 5).

A resident name with a line break, a broken address, a recipient the server refuses for good:
each is handled on its own. Poison mails are marked failed with a reason (counted, logged,
listed for admins), the others of the same pass go out, and the HTML part escapes names.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
import unicodedata
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from cloud.core.logging import FIELDS_ATTR
from cloud.db import transaction
from cloud.mail import headers
from cloud.mail.compose import TEMPLATES, environment
from cloud.mail.sender import build_message
from cloud.models import OutboxMail, Resident
from mimamori_dev.smtp_faults import FaultySmtpSink
from mimamori_wire import v1
from tests.cloud.test_mail_outbox import JST_0835
from tests.cloud.test_watch import staff_client

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
REFUSED = "nobody@example.jp"
INJECTION = "\r\nBcc: evil@example.com"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture
def faulty_sink():  # type: ignore[no-untyped-def]
    sink = FaultySmtpSink(refuse={REFUSED}).start()
    yield sink
    sink.stop()


def _failed_count(reason: str) -> float:
    return REGISTRY.get_sample_value("mimamori_mail_failed_total", {"reason": reason}) or 0.0


def _rename(cloud, household_id: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Straight into the database: whatever the admin API lets in, mail must survive."""
    with transaction(cloud.sessions) as session:
        session.execute(
            update(Resident).where(Resident.household_id == household_id).values(name=name)
        )


def _poison(cloud, to_addr: str) -> str:  # type: ignore[no-untyped-def]
    with transaction(cloud.sessions) as session:
        mail = OutboxMail(
            to_addr=to_addr,
            subject="テスト",
            text_body="本文",
            html_body=None,
            headers={},
            kind="alert",
            status="pending",
            attempts=0,
            next_attempt_at=cloud.clock() - timedelta(minutes=5),  # first in line
        )
        session.add(mail)
        session.flush()
        return mail.id


def test_poison_mails_fail_alone_and_every_other_mail_goes_out(
    live_cloud_factory, faulty_sink, database_url, caplog
) -> None:
    cloud = live_cloud_factory(database_url=database_url, smtp_port=faulty_sink.port)
    broken = cloud.household(contacts=1)
    hostile = cloud.household(contacts=1)
    cloud.admin_ok(
        "POST",
        f"/households/{hostile['id']}/contacts",
        json={"name": "宛先 不明", "email": REFUSED, "relationship": "長女"},
    )
    _rename(cloud, broken["id"], f"山田\n花子{INJECTION}")
    _rename(cloud, hostile["id"], "<script>alert(1)</script> & 花子")
    cloud.travel(JST_0835 - timedelta(minutes=20))
    bad_ids = [_poison(cloud, f"family@example.jp{INJECTION}"), _poison(cloud, "not-an-address")]
    for household in (broken, hostile):
        gw = cloud.enroll(household["id"])
        assert (
            gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200
        )
    before = {r: _failed_count(r) for r in ("address", "smtp_5xx")}

    caplog.set_level(logging.INFO, logger="mimamori.mail")
    summary = cloud.run_worker()

    # 2 x (family0 + office) help alerts went out in the same pass as the three poison mails.
    assert (summary.mail.sent, summary.mail.failed, summary.mail.retried) == (4, 3, 0)
    messages = faulty_sink.wait_for(4, timeout=10)
    for msg in messages:
        assert msg["Bcc"] is None and "evil" not in str(msg["To"])
        assert "\n" not in str(msg["Subject"])
    # The name's line breaks became spaces: the mail went out, nothing was injected.
    broken_mails = [m for m in messages if "山田 花子 Bcc: evil@example.com様" in m["Subject"]]
    assert len(broken_mails) == 2
    hostile_html = [
        m.get_body(("html",)).get_content() for m in messages if "script" in str(m["Subject"])
    ]
    assert hostile_html and all(
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 花子" in html and "<script>" not in html
        for html in hostile_html
    )

    with cloud.sessions() as session:
        rows = {m.id: m for m in session.scalars(select(OutboxMail))}
    for mail_id in bad_ids:
        assert (rows[mail_id].status, rows[mail_id].attempts) == ("failed", 1)
        assert rows[mail_id].last_error.startswith("address: ")
    refused = next(m for m in rows.values() if m.to_addr == REFUSED)
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.last_error.startswith("smtp_5xx: ") and "550" in refused.last_error
    assert {m.status for m in rows.values() if m.id not in {*bad_ids, refused.id}} == {"sent"}

    listed = cloud.admin_ok("GET", "/mail", params={"status": "failed"})
    assert {m["id"] for m in listed} == {*bad_ids, refused.id}
    assert all(m["last_error"] and m["attempts"] == 1 for m in listed)
    assert _failed_count("address") - before["address"] == 2
    assert _failed_count("smtp_5xx") - before["smtp_5xx"] == 1
    failures = [getattr(r, FIELDS_ATTR) for r in caplog.records if r.getMessage() == "mail.failed"]
    assert len(failures) == 3
    by_mail = {f["mail_id"]: f for f in failures}
    assert by_mail[refused.id]["incident_id"] == refused.incident_id
    assert by_mail[refused.id]["household_id"] == hostile["id"]
    assert by_mail[refused.id]["reason"] == "smtp_5xx"

    # The desk tells staff that a mail of an open case did not reach its recipient.
    staff = staff_client(cloud)
    try:
        desk = staff.get("/").text
    finally:
        staff.close()
    assert 'id="mail-failed"' in desk and "届かなかったお知らせ（メール・LINE）が 1 件" in desk


def test_every_html_template_autoescapes_and_no_text_template_does() -> None:
    env = environment()
    names = sorted(p.name for p in TEMPLATES.glob("*.j2"))
    assert any(n.endswith(".html.j2") for n in names)
    for name in names:
        env.get_template(name)  # every template compiles
        assert bool(env.autoescape(name)) is name.endswith(".html.j2"), name


class _Mail:
    """An outbox row as build_message reads it (no database needed)."""

    def __init__(self, subject: str, to_addr: str, extra: dict[str, str]) -> None:
        self.id = "00000000-0000-4000-8000-000000000000"
        self.subject, self.to_addr, self.headers = subject, to_addr, extra
        self.text_body, self.html_body = "本文", "<p>本文</p>"


def _squeeze(text: object) -> str:
    return "".join(str(text).split())


def display_has_control(text: str) -> bool:
    return any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in text)


text_with_controls = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\r\n\x00\x0b\x85"),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=text_with_controls,
    display=text_with_controls,
    local=st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True) | text_with_controls,
    value=text_with_controls,
)
def test_header_text_never_injects_a_header(subject, display, local, value) -> None:
    """Any subject, display name, address or header value: either refused as UnsafeHeader, or
    a message whose headers are exactly the ones we set, each one line."""
    from datetime import UTC, datetime

    mail = _Mail(subject, f"{display} <{local}@example.jp>", {"X-Mimamori-Incident": value})
    try:
        msg = build_message(mail, "見守りサービス <noreply@mimamori.invalid>", datetime.now(UTC))
        raw = msg.as_bytes()
    except headers.UnsafeHeader:
        # Refused only when the address itself is unusable or the name breaks the line/brackets.
        plain = re.fullmatch(r"[a-z0-9_+-]+(\.[a-z0-9_+-]+)*", local) is not None
        assert not plain or "<" in display or ">" in display or display_has_control(display)
        return
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    names = [name.lower() for name in parsed]
    assert names.count("subject") == 1 and names.count("to") == 1 and "bcc" not in names
    assert set(names) <= {
        "subject",
        "from",
        "to",
        "date",
        "message-id",
        "x-mimamori-incident",
        "content-type",
        "mime-version",
        "content-transfer-encoding",
    }
    # (Compared without spaces: RFC 2047 drops a space between two encoded words.)
    assert _squeeze(parsed["Subject"]) == _squeeze(headers.display_text(subject))
    assert _squeeze(parsed["X-Mimamori-Incident"]) == _squeeze(headers.display_text(value))
    assert parsed["To"].addresses[0].addr_spec == f"{local}@example.jp"
