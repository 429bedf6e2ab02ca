"""A family member's 「連絡がとれました」 fits the danger: for help, unwell and "needs help"
it is recorded for staff and the chain goes on to staff and the manager (real HTTP, real
SMTP); for a missed check-in it acknowledges or not as the municipality's chain says."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.escalation.chain import (
    CAUSES,
    DEFAULT_CHAINS,
    FAMILY_ACK_EFFECTS,
    STAFF_ONLY_ACK_CAUSES,
    chain_for,
    family_ack_effect,
    validate_chain,
)
from cloud.models import Household
from mimamori_wire import v1
from tests.cloud.test_e2e_escalation import JST_0835, _heard_from_before_the_deadline

chains = st.builds(
    lambda cause, extra: {**DEFAULT_CHAINS[cause], **extra},
    st.sampled_from(CAUSES),
    st.one_of(
        st.just({}), st.fixed_dictionaries({"family_ack": st.sampled_from(FAMILY_ACK_EFFECTS)})
    ),
)


@given(cause=st.sampled_from(CAUSES), chain=chains)
def test_family_never_stops_a_chain_where_someone_may_be_in_danger(cause, chain) -> None:
    validate_chain(chain)
    effect = family_ack_effect(cause, chain)
    if cause in STAFF_ONLY_ACK_CAUSES:
        assert effect == "record"
    else:
        assert effect == chain.get("family_ack", "acknowledge")


@given(st.text(max_size=12).filter(lambda v: v not in FAMILY_ACK_EFFECTS))
def test_unknown_family_ack_setting_is_refused(value) -> None:
    with pytest.raises(ValueError, match="family_ack"):
        validate_chain({**DEFAULT_CHAINS["missed_checkin"], "family_ack": value})


def test_override_fallback_keeps_the_rule() -> None:
    """ "needs help" borrows help's override; even an override saying acknowledge is ignored."""
    overrides = {
        "help_requested": {**DEFAULT_CHAINS["help_requested"], "family_ack": "acknowledge"}
    }
    chain = chain_for("safety_needs_help", overrides)
    assert family_ack_effect("safety_needs_help", chain) == "record"


def _municipality_of(cloud, household_id: str) -> str:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        household = session.scalars(select(Household).where(Household.id == household_id)).one()
        return household.office.municipality_id


def _ack_url(mail) -> str:  # type: ignore[no-untyped-def]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"連絡がとれました: (\S+)", text).group(1)


def test_family_ack_on_help_case_leaves_chain_running_to_staff_and_manager(
    live_cloud_factory, smtp_sink
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    # Staff 15 minutes after the family, and a municipality that asks family clicks to
    # acknowledge: a help request must still reach staff and the manager.
    chain = {
        "steps": [
            {"after_min": 0, "action": "family"},
            {"after_min": 15, "action": "staff"},
            {"after_min": 60, "action": "manager"},
        ],
        "repeat": {"every_min": 60, "action": "staff_reminder"},
        "family_ack": "acknowledge",
    }
    cloud.admin_ok(
        "PUT",
        f"/municipalities/{_municipality_of(cloud, hh['id'])}/escalation-chains",
        json={"help_requested": chain},
    )
    gw = cloud.enroll(hh["id"])
    start = JST_0835 - timedelta(minutes=95)  # 07:00 JST: no slot deadline on the way
    cloud.travel(start)
    assert gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200
    cloud.run_worker()
    [family_mail] = smtp_sink.wait_for(1, timeout=10)
    assert family_mail["To"] == "family0@example.jp"

    ack_url = _ack_url(family_mail)
    confirm = httpx.get(ack_url)
    assert "担当者からもご本人に確認します" in confirm.text
    cloud.travel(start + timedelta(minutes=3))
    done = httpx.post(ack_url)
    assert done.status_code == 200 and "確認は続きます" in done.text
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert incident["state"] == "open"
    assert incident["acknowledged_by"] is None
    assert incident["family_reached_by"] == "山田 太郎0"
    assert incident["family_reached_at"] is not None

    # The staff step still fires (+15), then the manager and the municipality (+60).
    cloud.travel(start + timedelta(minutes=15, seconds=1))
    cloud.run_worker()
    staff = smtp_sink.wait_for(2, timeout=10)[1]
    assert staff["To"] == "office@example.jp"
    cloud.travel(start + timedelta(minutes=60, seconds=1))
    cloud.run_worker()
    later = sorted(m["To"] for m in smtp_sink.wait_for(4, timeout=10)[2:])
    assert later == ["boss@example.jp", "city@example.jp"]
    detail = cloud.admin_ok("GET", f"/incidents/{incident['id']}")
    actions = sorted(n["action"] for n in detail["notifications"] if n["channel"] == "email")
    assert actions == ["family", "manager", "manager", "staff"]

    # Only staff stop it.
    acked = cloud.admin_ok("POST", f"/incidents/{incident['id']}/acknowledge", json={"by": "s"})
    assert acked["state"] == "acknowledged"


def test_missed_checkin_family_ack_follows_the_municipality_setting(
    live_cloud_factory, smtp_sink
) -> None:
    """A municipality that wants staff to confirm every case sets family_ack=record."""
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = _heard_from_before_the_deadline(cloud, contacts=1)
    chain = {**DEFAULT_CHAINS["missed_checkin"], "family_ack": "record"}
    cloud.admin_ok(
        "PUT",
        f"/municipalities/{_municipality_of(cloud, hh['id'])}/escalation-chains",
        json={"missed_checkin": chain},
    )
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()
    cloud.travel(JST_0835 + timedelta(minutes=5, seconds=1))
    cloud.run_worker()
    [family_mail] = smtp_sink.wait_for(1, timeout=10)
    assert httpx.post(_ack_url(family_mail)).status_code == 200
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    assert (incident["state"], incident["family_reached_by"]) == ("open", "山田 太郎0")
    cloud.travel(JST_0835 + timedelta(minutes=15, seconds=1))
    cloud.run_worker()
    assert smtp_sink.wait_for(2, timeout=10)[1]["To"] == "office@example.jp"
