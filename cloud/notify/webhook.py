"""The LINE webhook: signature check, then follow / unfollow / message / postback events.

`X-Line-Signature` is base64(HMAC-SHA256(channel secret, raw body)); it is checked on the raw
bytes before anything is parsed, with a constant-time compare, against each configured
channel's secret (a municipality has a handful of channels, so this also tells which one
sent it). Each webhookEventId is handled once: LINE redelivers, and a replayed body changes
nothing. Replies are Japanese and go out after the transaction committed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.core.logging import log_event
from cloud.mail.compose import resident_name
from cloud.models import Incident, LineChannelConfig, LineWebhookEvent
from cloud.models.staff import IncidentNote
from cloud.notify import linking
from cloud.notify.outbox import ACK_DATA, CALLBACK_DATA
from cloud.services import caselog

log = logging.getLogger("mimamori.line")

MAX_BODY_BYTES = 256 * 1024
CALLBACK_REQUEST = "callback_request"  # IncidentNote.kind: the family asks for a call

WEBHOOK = Counter(
    "mimamori_line_webhook_total",
    "LINE webhook requests and events, by result (bad_signature, malformed, replayed, "
    "linked, wrong_code, unfollow, ack, callback, ...)",
    ["result"],
)

GREETING = (
    "友だち追加ありがとうございます。見守りサービスのお知らせをLINEでお届けします。"
    "郵便局からお渡しした8けたの登録コード（例：ABCD-2345）をこのトークに送ってください。"
)
LINKED = "{name}様、登録が完了しました。{resident}様の見守りのお知らせをこのLINEでお届けします。"
WRONG_CODE = (
    "申し訳ありません。登録コードを確認できませんでした。コードの有効期限が切れているか、"
    "すでに使われている可能性があります。お手数ですが、もう一度お確かめいただくか、"
    "郵便局までお問い合わせください。"
)
NOT_A_CODE = (
    "メッセージありがとうございます。このアカウントからは返信できません。"
    "お急ぎの場合は郵便局までお電話ください。"
)
ACK_RECORDED = (
    "ありがとうございました。ご本人と連絡がとれたことを担当者にお伝えしました。"
    "緊急のお知らせのため、担当者がご本人の様子を確認するまで郵便局からの確認は続きます。"
)
ACK_STOPPED = "ありがとうございました。担当者への連絡を止めました。"
ACK_ALREADY = "ご連絡はすでに担当者にお伝えしてあります。ご協力ありがとうございます。"
ACK_CLOSED = "この件はすでに対応が終わっています。ご協力ありがとうございます。"
CALLBACK_OK = "承りました。郵便局の担当者からお電話いたします。"
NOT_YOURS = "申し訳ありません。このお知らせはご登録の内容と一致しませんでした。"


class Malformed(ValueError):
    """A signed body that is not a LINE webhook payload."""


@dataclass
class Reply:
    token: str
    texts: list[str]


@dataclass
class Handled:
    replies: list[Reply] = field(default_factory=list)
    results: list[str] = field(default_factory=list)


def signature_ok(secret: str, body: bytes, signature: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("latin-1", "replace"))


def channel_for(session: Session, body: bytes, signature: str | None) -> LineChannelConfig | None:
    """The configured channel whose secret signed `body`, or None (forged / unknown)."""
    if not signature:
        return None
    found = None
    for config in session.scalars(select(LineChannelConfig).order_by(LineChannelConfig.id)):
        # Check every secret (no early exit): the time taken says nothing about which matched.
        if signature_ok(config.channel_secret, body, signature) and found is None:
            found = config
    return found


def parse(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise Malformed("no events list")
    return events


def handle(
    session: Session, config: LineChannelConfig, events: list[Any], now: datetime
) -> Handled:
    handled = Handled()
    for event in events:
        result = _handle_one(session, config, event, now, handled)
        handled.results.append(result)
        WEBHOOK.labels(result).inc()
        if result in ("malformed_event", "wrong_code", "not_yours"):
            log_event(log, "line.webhook_event", logging.WARNING, result=result)
    return handled


def _handle_one(
    session: Session, config: LineChannelConfig, event: Any, now: datetime, handled: Handled
) -> str:
    if not isinstance(event, dict) or not isinstance(event.get("webhookEventId"), str):
        return "malformed_event"
    kind = str(event.get("type", ""))[:32]
    if not _first_time(session, config, event["webhookEventId"][:64], kind, now):
        return "replayed"
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    user = source.get("userId") if isinstance(source.get("userId"), str) else None
    token = event.get("replyToken") if isinstance(event.get("replyToken"), str) else None

    def reply(text: str) -> None:
        if token:
            handled.replies.append(Reply(token, [text]))

    if user is None:
        return "no_user"
    if kind == "follow":
        reply(GREETING)
        return "follow"
    if kind == "unfollow":
        linking.unlink(session, user, now)
        return "unfollow"
    if kind == "message":
        return _message(session, event, user, now, reply)
    if kind == "postback":
        return _postback(session, event, user, now, reply)
    return "ignored"


def _first_time(
    session: Session, config: LineChannelConfig, event_id: str, kind: str, now: datetime
) -> bool:
    try:
        with session.begin_nested():
            session.add(
                LineWebhookEvent(
                    webhook_event_id=event_id,
                    line_channel_id=config.id,
                    kind=kind,
                    attempts=1,
                    result="handled",
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _message(session: Session, event: dict, user: str, now: datetime, reply: Any) -> str:
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    text = message.get("text") if message.get("type") == "text" else None
    if not isinstance(text, str) or not linking.looks_like_code(text):
        reply(NOT_A_CODE)
        return "message"
    contact = linking.redeem(session, text, user, now)
    if contact is None:
        reply(WRONG_CODE)
        return "wrong_code"
    reply(LINKED.format(name=contact.name, resident=resident_name(contact.household)))
    return "linked"


def _postback(session: Session, event: dict, user: str, now: datetime, reply: Any) -> str:
    postback = event.get("postback") if isinstance(event.get("postback"), dict) else {}
    data = str(postback.get("data", ""))
    action, _, incident_id = data.partition(":")
    incident = session.get(Incident, incident_id[:36]) if incident_id else None
    contacts = [
        c
        for c in linking.linked_contacts(session, user)
        if incident is not None and c.household_id == incident.household_id
    ]
    if incident is None or not contacts or action not in ("ack", "callback"):
        reply(NOT_YOURS)
        return "not_yours"
    contact = contacts[0]
    if data == ACK_DATA.format(incident=incident.id):
        # The same rule as the signed mail link: it never closes (or, for help, stops) a case.
        result = caselog.family_reached(session, incident, contact, now)
        reply(
            {
                "acknowledged": ACK_STOPPED,
                "recorded": ACK_RECORDED,
                "already": ACK_ALREADY,
                "closed": ACK_CLOSED,
            }[result]
        )
        return "ack"
    assert data == CALLBACK_DATA.format(incident=incident.id)
    session.add(
        IncidentNote(
            incident_id=incident.id,
            kind=CALLBACK_REQUEST,
            text="郵便局からの電話を希望（LINE）",
            callee=None,
            author_id=None,
            author_name=caselog.family_label(contact.name),
            created_at=now,
        )
    )
    session.flush()
    reply(CALLBACK_OK)
    return "callback"
