"""Pages behind the signed links in family e-mail: "連絡がとれました" and unsubscribe.

GET only shows a confirmation page (mail scanners and link previews follow GETs);
the state changes on POST from the page's button.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from cloud.api.deps import db_session, state
from cloud.core import metrics
from cloud.escalation.chain import family_ack_effect
from cloud.mail.compose import resident_name
from cloud.mail.links import AckClaim, LinkExpired, LinkInvalid
from cloud.models import FamilyContact, Household, Incident
from cloud.services import caselog
from cloud.services.contacts import tel_or_none

router = APIRouter(prefix="/family", tags=["family"], include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)


def page(title: str, lines: list[str], status: int = 200, **extra: str) -> HTMLResponse:
    html = _env.get_template("family_page.html.j2").render(
        title=title,
        lines=lines,
        form_label=extra.get("form_label"),
        second_form_label=extra.get("second_form_label"),
        second_form_note=extra.get("second_form_note"),
        office_name=extra.get("office_name"),
        office_phone=extra.get("office_phone"),
        office_tel=tel_or_none(extra.get("office_phone")),
    )
    return HTMLResponse(html, status_code=status)


def _bad_link(exc: Exception) -> HTMLResponse:
    metrics.REJECTED.labels("bad_family_link").inc()
    if isinstance(exc, LinkExpired):
        return page(
            "リンクの有効期限が切れています",
            [
                "このリンクは有効期限が切れています。お手数ですが、郵便局までお電話でご連絡ください。"
            ],
            status=410,
        )
    return page(
        "リンクが正しくありません",
        ["このリンクは無効です。メールのリンクをもう一度お確かめください。"],
        400,
    )


def _load(session: Session, claim: AckClaim) -> tuple[Incident, FamilyContact, Household] | None:
    incident = session.get(Incident, claim.incident_id)
    contact = session.get(FamilyContact, claim.contact_id)
    if incident is None or contact is None or contact.household_id != incident.household_id:
        return None
    return incident, contact, session.get_one(Household, incident.household_id)


def _claimed(
    token: str, request: Request, session: Session
) -> tuple[Incident, FamilyContact, Household] | HTMLResponse:
    """The incident, contact and household a signed ack link names, or the error page."""
    try:
        claim = state(request).notifier.signer.read_ack(token)
    except (LinkExpired, LinkInvalid) as exc:
        return _bad_link(exc)
    loaded = _load(session, claim)
    return _bad_link(LinkInvalid()) if loaded is None else loaded


def _already_handled(incident: Incident, household: Household) -> HTMLResponse:
    office = household.office
    return page(
        "ご連絡ありがとうございます",
        [_state_line(incident)],
        office_name=office.name,
        office_phone=office.phone or "",
    )


@router.get("/ack/{token}")
def ack_confirm(
    token: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> HTMLResponse:
    loaded = _claimed(token, request, session)
    if isinstance(loaded, HTMLResponse):
        return loaded
    incident, _contact, household = loaded
    office = household.office
    if incident.state != "open" or (
        incident.family_reached_at is not None and _staff_must_confirm(incident)
    ):
        return _already_handled(incident, household)
    if _staff_must_confirm(incident):
        after = "押していただくと担当者にお伝えします。念のため、担当者からもご本人に確認します。"
    else:
        after = "担当者への連絡はそこで止まります。"
    return page(
        "連絡がとれましたか？",
        [
            f"{resident_name(household)}様ご本人と連絡がとれましたら、下のボタンを押してください。",
            after + "まだ連絡がとれていない場合は押さないでください。",
        ],
        form_label="連絡がとれました",
        office_name=office.name,
        office_phone=office.phone or "",
    )


def _staff_must_confirm(incident: Incident) -> bool:
    """Help, unwell, "needs help": the family's word is passed on, the chain goes on."""
    return family_ack_effect(incident.cause, incident.chain) == "record"


@router.post("/ack/{token}")
def ack(
    token: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> HTMLResponse:
    loaded = _claimed(token, request, session)
    if isinstance(loaded, HTMLResponse):
        return loaded
    incident, contact, household = loaded
    office = household.office
    result = caselog.family_reached(session, incident, contact, state(request).clock())
    if result in ("already", "closed"):
        return _already_handled(incident, household)
    if result == "acknowledged":
        second = "担当者への連絡を止めました。気になることがあれば郵便局までご連絡ください。"
    else:
        second = (
            "担当者にお伝えしました。緊急のお知らせのため、担当者がご本人の様子を確認するまで"
            "郵便局からの確認は続きます。"
        )
    return page(
        "ありがとうございました",
        [f"{resident_name(household)}様と連絡がとれたことを承りました。", second],
        office_name=office.name,
        office_phone=office.phone or "",
    )


def _state_line(incident: Incident) -> str:
    if incident.state == "open":
        return "ご連絡はすでに担当者にお伝えしてあります。ご協力ありがとうございます。"
    if incident.state == "acknowledged":
        return "この件はすでに確認済みです。ご協力ありがとうございます。"
    return "この件はすでに対応が終わっています。ご協力ありがとうございます。"


ALERTS_STAY_ON = (
    "ご本人から応答がないときや、「助けて」との連絡があったときなど、緊急時のお知らせは"
    "これまでどおりお送りします。"
)


@router.get("/unsubscribe/{token}")
def unsubscribe_confirm(token: str, request: Request) -> HTMLResponse:
    try:
        state(request).notifier.signer.read_unsubscribe(token)
    except (LinkExpired, LinkInvalid) as exc:
        return _bad_link(exc)
    return page(
        "配信の停止",
        [
            "毎日の見守り報告メールを停止します。よろしければ下のボタンを押してください。",
            ALERTS_STAY_ON,
        ],
        form_label="毎日の報告を停止する",
        second_form_label="緊急時のお知らせも含め、すべてのメールを停止する",
        second_form_note=(
            "すべて停止すると、ご本人に何かあってもメールではお知らせできません"
            "（郵便局からお電話でご連絡します）。"
        ),
    )


@router.post("/unsubscribe/{token}")
def unsubscribe(
    token: str,
    request: Request,
    scope: str | None = Form(default=None, max_length=8),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """Also the RFC 8058 one-click target (List-Unsubscribe-Post): that stops the daily
    report only. Emergency alerts stop only when the family chooses so on the page
    (scope=all); staff see either on the household page."""
    try:
        contact_id = state(request).notifier.signer.read_unsubscribe(token)
    except (LinkExpired, LinkInvalid) as exc:
        return _bad_link(exc)
    contact = session.get(FamilyContact, contact_id)
    if contact is None:
        return _bad_link(LinkInvalid())
    everything = scope == "all"
    now = state(request).clock()
    contact.daily_report = False
    contact.reports_stopped_at = contact.reports_stopped_at or now
    if everything:
        contact.unsubscribed_at = contact.unsubscribed_at or now
        return page(
            "すべてのメールを停止しました",
            [
                "今後、見守りのメールはお送りしません。ご本人に何かあったときは、郵便局から"
                "お電話でご連絡します。再開をご希望の場合は郵便局までご連絡ください。"
            ],
        )
    return page(
        "毎日の報告を停止しました",
        ["毎日の見守り報告メールはお送りしません。", ALERTS_STAY_ON],
    )
