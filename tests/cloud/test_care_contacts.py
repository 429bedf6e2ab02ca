"""People to call through the admin API and the CLI: Japanese phone numbers (validated with
phonenumbers, stored in national format), contact roles and calling order, the resident's
address, birth date and visitor notes; and phone validation against input we did not write."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cloud.cli import app
from cloud.services.contacts import FieldInvalid, normalise_phone, phone_list, tel_uri


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0312345678", "03-1234-5678"),
        ("03-1234-5678", "03-1234-5678"),
        ("０９０－１２３４－５６７８", "090-1234-5678"),  # full-width, as typed with an IME
        ("+81 90 1234 5678", "090-1234-5678"),
        ("045-000-1111", "045-000-1111"),
        ("0120-123-456", "0120-123-456"),
    ],
)
def test_japanese_numbers_are_stored_in_national_format(typed: str, stored: str) -> None:
    assert normalise_phone(typed) == stored
    assert tel_uri(stored).startswith("tel:+81")


@pytest.mark.parametrize("typed", ["12345", "119", "+1 212 555 0100", "電話", "03-1234-5678\n"])
def test_other_input_is_refused_with_the_field_named(typed: str) -> None:
    with pytest.raises(FieldInvalid) as info:
        normalise_phone(typed, "phone1")
    assert info.value.field == "phone1"


@given(st.lists(st.text(max_size=20), max_size=5))
def test_any_input_gives_checked_numbers_or_a_field_error(values: list[str]) -> None:
    """Never a crash, never an unchecked value: each kept number parses back to itself."""
    try:
        numbers = phone_list(values)
    except FieldInvalid as exc:
        assert exc.field == "phones" and exc.key
        return
    assert len(numbers) <= 3 and len(set(numbers)) == len(numbers)
    for number in numbers:
        assert normalise_phone(number) == number


def test_admin_api_contacts_and_resident_details(live_cloud) -> None:
    hh = live_cloud.household(
        contacts=0, phone="03-1234-5678", address="港北区1-2-3", birth_date="1936-04-01"
    )
    assert hh["phones"] == ["03-1234-5678"]
    assert hh["residents"][0]["birth_date"] == "1936-04-01"
    assert hh["residents"][0]["birth_year"] == 1936
    base = f"/households/{hh['id']}/contacts"
    son = live_cloud.admin_ok(
        "POST",
        base,
        json={
            "name": "山田 太郎",
            "email": "taro@example.jp",
            "phone": "090-1111-2222",
            "relationship": "長男",
            "roles": ["family", "emergency"],
            "priority": 2,
        },
    )
    assert son["phones"] == ["090-1111-2222"] and son["notify_alerts"] is True
    neighbour = live_cloud.admin_ok(
        "POST",
        base,
        json={"name": "佐々木", "phone": "045-000-2222", "roles": ["key_holder"], "priority": 1},
    )
    assert neighbour["email"] is None and neighbour["notify_alerts"] is False
    bad = live_cloud.admin("POST", base, json={"name": "x", "phone": "12345"})
    assert bad.status_code == 422 and "phone" in bad.json()["detail"]
    role = live_cloud.admin(
        "POST", base, json={"name": "x", "phone": "0312345678", "roles": ["boss"]}
    )
    assert role.status_code == 422 and "boss" in role.json()["detail"]
    alerts = live_cloud.admin(
        "POST", base, json={"name": "x", "phone": "0312345678", "notify_alerts": True}
    )
    assert alerts.status_code == 422
    got = live_cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert [c["name"] for c in got["contacts"]] == ["佐々木", "山田 太郎"]  # calling order

    patched = live_cloud.admin_ok(
        "PATCH",
        f"/households/{hh['id']}",
        json={"phones": ["090-3333-4444", "03-1234-5678"], "visitor_notes": "耳が遠い"},
    )
    assert patched["phones"] == ["090-3333-4444", "03-1234-5678"]
    assert patched["address"] == "港北区1-2-3"  # not sent: unchanged
    assert sorted(patched["changed"]) == ["phones", "visitor_notes"]
    cleared = live_cloud.admin_ok("PATCH", f"/households/{hh['id']}", json={"birth_date": None})
    assert cleared["residents"][0]["birth_date"] is None

    updated = live_cloud.admin_ok(
        "PUT",
        f"/contacts/{neighbour['id']}",
        json={"name": "佐々木 一", "phone": "045-000-2222", "roles": ["key_holder", "family"]},
    )
    assert updated["roles"] == ["family", "key_holder"] and updated["changed"] == ["name", "roles"]
    assert live_cloud.admin("DELETE", f"/contacts/{son['id']}").status_code == 204
    left = live_cloud.admin_ok("GET", f"/households/{hh['id']}")["contacts"]
    assert [c["name"] for c in left] == ["佐々木 一"]


def test_cli_add_contact_and_set_household(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MIMAMORI_DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    def last(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    muni = last("create-municipality", "--name", "横浜市")
    office = last("create-office", "--municipality", muni, "--name", "港北郵便局")
    household = last("create-household", "--office", office, "--name", "山田 花子")
    last(
        "set-household",
        "--household",
        household,
        "--phone",
        "0312345678",
        "--address",
        "港北区1-2-3",
        "--birth-date",
        "1936-04-01",
        "--visitor-notes",
        "犬がいる",
    )
    last(
        "add-contact",
        "--household",
        household,
        "--name",
        "佐々木",
        "--phone",
        "045-000-2222",
        "--role",
        "key_holder",
    )
    last(
        "add-contact",
        "--household",
        household,
        "--name",
        "山田 太郎",
        "--email",
        "taro@example.jp",
        "--phone",
        "090-1111-2222",
        "--relationship",
        "長男",
        "--priority",
        "0",
    )
    bad = runner.invoke(
        app, ["add-contact", "--household", household, "--name", "x", "--phone", "123"]
    )
    assert bad.exit_code == 2 and "phone" in bad.stderr
    date = runner.invoke(
        app, ["set-household", "--household", household, "--birth-date", "1936/04/01"]
    )
    assert date.exit_code != 0

    from cloud.db import make_engine, make_sessionmaker, transaction
    from cloud.models import Household

    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            row = session.get_one(Household, household)
            assert row.phones == ["03-1234-5678"] and row.visitor_notes == "犬がいる"
            assert row.residents[0].birth_date.isoformat() == "1936-04-01"
            contacts = [(c.name, c.roles, c.notify_alerts) for c in row.contacts]
            assert contacts == [("山田 太郎", ["family"], True), ("佐々木", ["key_holder"], False)]
    finally:
        engine.dispose()
