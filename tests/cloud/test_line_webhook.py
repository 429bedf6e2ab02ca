"""The LINE webhook (real HTTP, LINE API stand-in, SQLite and PostgreSQL): linking with a
one-time code, postbacks recorded like the mail link (never closing a help case), unfollow
falls back to e-mail; every forged, replayed, oversized or malformed body is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.models import FamilyContact, Household
from cloud.models.staff import IncidentNote
from cloud.notify import linking, webhook
from mimamori_dev.line_standin import LineStandin
from mimamori_wire import v1
from tests.cloud.test_e2e_escalation import JST_0835

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "standin-token"
USER = "U" + "b" * 32


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def event(kind: str, standin: LineStandin | None = None, **extra: object) -> dict:
    return {
        "type": kind,
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "timestamp": 1764460800000,
        "mode": "active",
        "source": {"type": "user", "userId": USER},
        "deliveryContext": {"isRedelivery": False},
        **({"replyToken": standin.new_reply_token()} if standin else {}),
        **extra,
    }


def text(body: str, standin: LineStandin) -> dict:
    return event("message", standin, message={"type": "text", "id": "1", "text": body})


class Hook:
    def __init__(self, cloud) -> None:  # type: ignore[no-untyped-def]
        self.url = f"{cloud.base_url}/api/v1/line/webhook"

    def raw(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Line-Signature"] = signature
        return httpx.post(self.url, content=body, headers=headers, timeout=30)

    def send(self, *events: dict) -> httpx.Response:
        body = json.dumps({"destination": "Uxxx", "events": list(events)}).encode()
        return self.raw(body, sign(body))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hooked(request, line_standin, smtp_sink, live_cloud_factory):  # type: ignore[no-untyped-def]
    # The stand-in first, so it is stopped last: the cloud's shutdown waits for a reply still
    # in flight, which would otherwise retry against a closed port for its whole budget (~5 s).
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    cloud = live_cloud_factory(
        database_url=url, smtp_port=smtp_sink.port, line_api_base=line_standin.base_url
    )
    hh = cloud.household(contacts=1)
    return cloud, hh, Hook(cloud)


def _channel(cloud, hh) -> dict:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        household = session.get(Household, hh["id"])
        muni, office = household.office.municipality_id, household.office_id
    return cloud.admin_ok(
        "PUT",
        "/line-channels",
        json={
            "municipality_id": muni,
            "office_id": office,
            "channel_id": "1650000001",
            "channel_secret": SECRET,
            "access_token": TOKEN,
        },
    )


def _contact_id(cloud) -> str:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return session.scalars(select(FamilyContact.id)).one()


def test_link_help_postbacks_and_unfollow(hooked, smtp_sink, line_standin) -> None:
    cloud, hh, hook = hooked
    shown = _channel(cloud, hh)
    listed = json.dumps(cloud.admin_ok("GET", "/line-channels"))
    assert SECRET not in json.dumps(shown) + listed and TOKEN not in json.dumps(shown) + listed
    line_standin.add_user(USER, "太郎")
    code = cloud.admin_ok("POST", f"/contacts/{_contact_id(cloud)}/line-link-code")["code"]

    assert hook.send(event("follow", line_standin)).json()["results"] == ["follow"]
    line_standin.wait_for_replies(1, timeout=10)  # replies go out after the 200
    wrong = hook.send(text("ZZZZ-ZZZZ", line_standin))
    assert wrong.json()["results"] == ["wrong_code"]
    line_standin.wait_for_replies(2, timeout=10)
    # Typed on a phone: full-width, lower case, no hyphen.
    typed = code.replace("-", "").lower().translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    linked = text(typed, line_standin)
    assert hook.send(linked).json()["results"] == ["linked"]
    line_standin.wait_for_replies(3, timeout=10)
    assert hook.send(linked).json()["results"] == ["replayed"]  # LINE redelivers: once
    replies = [r.texts()[0] for r in line_standin.replies]
    assert replies[0] == webhook.GREETING and replies[1] == webhook.WRONG_CODE
    assert "登録が完了しました" in replies[2] and len(replies) == 3
    again = hook.send(text(code, line_standin)).json()["results"]
    assert again == ["wrong_code"]  # single use

    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=95))
    assert gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200
    cloud.run_worker()
    [push] = line_standin.wait_for(1, timeout=10, to=USER)
    ack, callback = (a["data"] for a in push.messages[1]["template"]["actions"][:2])
    assert hook.send(event("postback", line_standin, postback={"data": ack})).json()["results"] == [
        "ack"
    ]
    assert line_standin.wait_for_replies(5, timeout=10)[-1].texts()[0] == webhook.ACK_RECORDED
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert incident["state"] == "open" and incident["acknowledged_by"] is None
    assert incident["family_reached_by"] == "山田 太郎0"
    result = hook.send(event("postback", line_standin, postback={"data": callback}))
    assert result.json()["results"] == ["callback"]
    with cloud.sessions() as session:
        kinds = session.scalars(
            select(IncidentNote.kind).where(IncidentNote.incident_id == incident["id"])
        ).all()
    assert sorted(kinds) == ["callback_request", "family_reached"]
    # Someone else's postback for this case is refused politely.
    stranger = event("postback", line_standin, postback={"data": ack})
    stranger["source"]["userId"] = "U" + "c" * 32
    assert hook.send(stranger).json()["results"] == ["not_yours"]

    pref = cloud.admin_ok(
        "PUT", f"/contacts/{_contact_id(cloud)}/channels", json={"channel_pref": "both"}
    )
    assert pref["line_linked"] and pref["channel_pref"] == "both"
    assert (
        cloud.admin(
            "PUT", f"/contacts/{_contact_id(cloud)}/channels", json={"channel_pref": "fax"}
        ).status_code
        == 422
    )
    assert hook.send(event("unfollow")).json()["results"] == ["unfollow"]
    with cloud.sessions() as session:
        contact = session.scalars(select(FamilyContact)).one()
        assert contact.line_user_id is None and contact.line_blocked_at is not None


def test_forged_malformed_and_oversized_bodies_are_refused(hooked, line_standin) -> None:
    cloud, hh, hook = hooked
    _channel(cloud, hh)
    body = json.dumps({"events": [event("follow", line_standin)]}).encode()
    assert hook.raw(body, None).status_code == 401
    assert hook.raw(body, sign(body, "another-secret-of-someone-else")).status_code == 401
    assert hook.raw(body + b" ", sign(body)).status_code == 401  # body changed after signing
    for bad in (b"not json", b"[1, 2]", b'{"events": 3}', b"\xff\xfe"):
        assert hook.raw(bad, sign(bad)).status_code == 400, bad
    big = json.dumps({"events": [], "pad": "x" * 300_000}).encode()
    assert hook.raw(big, sign(big)).status_code == 413
    assert line_standin.replies == []

    # Any header value HTTP can carry: random text, or a well-formed base64 HMAC of random
    # bytes (what a forger would send); bodies random bytes or a real, valid event batch.
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)
    b64 = st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode())
    valid = st.just(json.dumps({"events": [event("follow")]}).encode())

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=st.one_of(st.binary(max_size=2000), valid), signature=st.one_of(printable, b64))
    def forged(body: bytes, signature: str) -> None:
        if hmac.compare_digest(signature, sign(body)):
            return
        # 422: the hardening layer's JSON depth limit refuses some bodies before us.
        assert hook.raw(body, signature).status_code in (401, 422), (body, signature)

    forged()
    ok = hook.send(event("follow", line_standin))
    assert ok.status_code == 200


def test_cli_issues_a_link_code_for_a_contact(live_cloud) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cloud.cli import app

    live_cloud.household(contacts=1)
    url = live_cloud.settings.database_url
    made = CliRunner().invoke(
        app, ["line-link-code", "--contact", _contact_id(live_cloud), "--database-url", url]
    )
    assert made.exit_code == 0, made.output
    assert linking.looks_like_code(made.output.strip())
    unknown = CliRunner().invoke(
        app, ["line-link-code", "--contact", "nobody", "--database-url", url]
    )
    assert unknown.exit_code == 2
