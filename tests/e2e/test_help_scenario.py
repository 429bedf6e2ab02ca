"""Scenario 1: a resident presses the help button -> incident on the staff desk and family mail.

Real processes all the way: `mimamori-cloud serve` on SQLite, `mimamori-cloud worker`, an
aiosmtpd SMTP server, mosquitto, and a simulated home running the real gateway daemon whose
help button is a simulated BTHome frame decoded by the real bridge.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mimamori_dev.demo import STAFF_PASSWORD, Demo, DemoHousehold

HELP_HOME = DemoHousehold(
    "高橋 キヨ",
    "たかはし きよ",
    1936,
    ("高橋 誠", "長男", "makoto@example.jp"),
    {"answers": ["はい、元気です"], "help_button_after_s": 2, "motion_every_s": 5},
)


@pytest.fixture
def demo(tmp_path: Path):
    demo = Demo(tmp_path / "demo", first_slot_in_min=120, households=[HELP_HOME])
    try:
        demo.start_services()
        _, households = demo.seed()
        ((hh, household_id),) = households
        demo.start_home(0, hh, household_id)
        yield demo
    finally:
        demo.stop()


def _staff_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login",
        data={
            "email": "staff@sakura-post.example.jp",
            "password": STAFF_PASSWORD,
            "csrf_token": token,
            "next": "/",
        },
    )
    assert response.status_code == 303, response.text
    return client


def test_help_button_reaches_family_mail_and_staff_desk(demo: Demo) -> None:
    mails = demo.smtp.wait_for(2, timeout=90)
    family = [m for m in mails if "makoto@example.jp" in str(m["To"])]
    staff = [m for m in mails if "desk@sakura-post.example.jp" in str(m["To"])]
    assert len(family) == 1 and len(staff) == 1, [m["Subject"] for m in mails]
    assert "助け" in str(family[0]["Subject"]) and "高橋 キヨ" in str(family[0]["Subject"])
    assert "連絡がとれました" in family[0].get_body(("plain",)).get_content()

    client = _staff_client(demo.cloud.base_url)
    try:
        desk = client.get("/")
    finally:
        client.close()
    assert desk.status_code == 200
    assert "高橋 キヨ" in desk.text and "助け" in desk.text

    # The help event was created on the gateway; the mail reached the SMTP server after it.
    db = sqlite3.connect(demo.root / "cloud.db")
    (occurred,) = db.execute(
        "SELECT occurred_at FROM events WHERE kind = 'help.requested'"
    ).fetchone()
    db.close()
    created = datetime.fromisoformat(str(occurred)).replace(tzinfo=UTC)
    arrived = demo.smtp.arrived_at[mails.index(family[0])]
    latency = arrived - created.timestamp()
    print(f"help event created on the gateway -> family mail in the SMTP server: {latency:.2f} s")
    assert latency > 0  # the figure itself is bench/e2e.py's job; tests do not time
    # Exactly once: no second mail for the same help request while we watched.
    with pytest.raises(TimeoutError):
        demo.smtp.wait_for(3, timeout=5)
