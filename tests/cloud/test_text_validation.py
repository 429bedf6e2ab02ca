"""Text that enters through the admin API and the CLI carries no control characters in
names, addresses, e-mail addresses and phone numbers (issue 13, findings 4 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.api.hardening import admin_text_problem
from cloud.services import text
from cloud.web.forms import FieldError, required_text

BAD = st.sampled_from(["\n", "\r", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@given(ANY_TEXT)
def test_a_clean_line_has_no_control_characters(value: str) -> None:
    clean = text.is_clean(value)
    assert clean == all(unicodedata.category(c) not in {"Cc", "Cs", "Zl", "Zp"} for c in value)
    if clean:
        assert not {"\r", "\n", "\x00"} & set(value)
        value.encode("utf-8")  # storable and sendable as it is


@given(ANY_TEXT.filter(text.is_clean), ANY_TEXT.filter(text.is_clean), BAD)
def test_any_control_character_anywhere_is_named(before: str, after: str, bad: str) -> None:
    problem = text.problem(before + bad + after, "resident_name")
    assert problem is not None
    assert problem.startswith("resident_name:") and f"U+{ord(bad):04X}" in problem


@given(
    st.lists(
        ANY_TEXT.filter(lambda s: "\n" not in s and text.is_clean(s, multiline=True)),
        max_size=4,
    )
)
def test_free_text_keeps_line_breaks_from_any_browser(lines: list[str]) -> None:
    for newline in ("\n", "\r\n", "\r"):
        typed = newline.join(lines)
        normalised = text.normalise_newlines(typed)
        assert text.is_clean(normalised, multiline=True)
        assert normalised == "\n".join(lines)


@given(
    st.recursive(
        ANY_TEXT.filter(text.is_clean) | st.integers() | st.none(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["name", "email", "phones", "note"]), inner, max_size=3
            )
        ),
        max_leaves=10,
    ),
    BAD,
)
def test_admin_bodies_are_checked_at_every_depth(body: object, bad: str) -> None:
    assert admin_text_problem(json.loads(json.dumps(body))) is None
    poisoned = {"contacts": [{"name": "山田" + bad}], "rest": body}
    problem = admin_text_problem(poisoned)
    assert problem is not None and problem.startswith("contacts.0.name:")
    # Notes may span lines, but still hold no other control character.
    assert admin_text_problem({"note": "一行目\n二行目"}) is None
    assert admin_text_problem({"note": "x\x00"}) is not None


@given(ANY_TEXT)
def test_form_fields_accept_only_clean_text(value: str) -> None:
    for multiline in (False, True):
        try:
            got = required_text({"f": value}, "f", 1000, multiline=multiline)
        except FieldError as exc:
            assert exc.key in {"err_control_chars", "err_required", "err_too_long"}
        else:
            assert text.is_clean(got, multiline) and got == got.strip()


# --- the admin API, on both databases ------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cloud(request: pytest.FixtureRequest, live_cloud_factory):  # type: ignore[no-untyped-def]
    if request.param == "postgres":
        return live_cloud_factory(request.getfixturevalue("postgres_url"))
    return live_cloud_factory()


def test_admin_api_refuses_control_characters_with_a_clear_422(cloud) -> None:  # type: ignore[no-untyped-def]
    hh = cloud.household()
    office_id = hh["office_id"]
    refused = [
        ("POST", "/municipalities", {"name": "横浜市\u2028"}, "name"),
        ("POST", "/offices", {"municipality_id": "x", "name": "局", "phone": "045\x00"}, "phone"),
        (
            "POST",
            "/households",
            {"office_id": office_id, "resident_name": "山田\n花子"},
            "resident_name",
        ),
        (
            "POST",
            "/households",
            {"office_id": office_id, "resident_name": "山田", "address": "中央1\r\n"},
            "address",
        ),
        (
            "POST",
            f"/households/{hh['id']}/contacts",
            {"name": "太郎\r\nBcc: x@evil.example", "email": "t@example.jp"},
            "name",
        ),
        (
            "POST",
            f"/households/{hh['id']}/contacts",
            {"name": "太郎", "email": "t@example.jp\x00"},
            "email",
        ),
        ("POST", f"/households/{hh['id']}/holidays", {"day": "2026-12-01", "note": "\x1b"}, "note"),
    ]
    for method, path, body, field in refused:
        r = cloud.admin(method, path, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"] == "invalid_text" and r.json()["detail"].startswith(field), r.text
    after = cloud.admin_ok("GET", f"/households/{hh['id']}")
    assert len(after["contacts"]) == 1 and after["holidays"] == []
    # Free text may span lines.
    r = cloud.admin(
        "POST",
        f"/households/{hh['id']}/pauses",
        json={"starts_at": "2026-12-01T00:00:00+09:00", "reason": "入院\n(一週間)"},
    )
    assert r.status_code == 201, r.text


def test_service_layer_refuses_them_for_every_caller(tmp_path: Path) -> None:
    """The CLI (and anything else calling cloud.services.tenancy) gets the same rule."""
    cli = str(Path(sys.executable).parent / "mimamori-cloud")
    env = {**os.environ, "MIMAMORI_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=60)

    assert run("migrate").returncode == 0
    muni = run("create-municipality", "--name", "市").stdout.strip().splitlines()[-1]
    office = run("create-office", "--municipality", muni, "--name", "局")
    assert office.returncode == 0
    office_id = office.stdout.strip().splitlines()[-1]
    bad = run("create-household", "--office", office_id, "--name", "山田\n花子")
    assert bad.returncode == 2 and "resident_name: line breaks" in bad.stderr
    bad = run("create-office", "--municipality", muni, "--name", "局", "--email", "a@b.jp\r")
    assert bad.returncode == 2 and "email: line breaks" in bad.stderr
