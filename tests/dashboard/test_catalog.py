"""The dashboard's gettext catalog (Babel): every UI text key has its Japanese translation in
the .po, the shipped .mo is compiled from the current .po, and the glossary gives each code
one label and never the raw code."""

from __future__ import annotations

import io

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from cloud.web import i18n

PO = i18n.LOCALE_DIR / "ja" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _po():
    with PO.open("rb") as f:
        return read_po(f, locale="ja")


def test_every_key_is_translated_to_japanese() -> None:
    catalog = _po()
    missing = [
        key
        for key, english in i18n.TEXT.items()
        if not (m := catalog.get(english, context=key)) or not m.string or m.fuzzy
    ]
    assert not missing, f"no Japanese in {PO} for {missing}: run make messages and translate"
    ja = i18n.translator("ja")
    assert ja("nav_desk") == "対応デスク" and i18n.translator("en")("nav_desk") == "Desk"
    assert ja("no_such_key") == "no_such_key"


def test_shipped_mo_is_compiled_from_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po())
    compiled.seek(0)
    fresh = {(m.context, m.id): m.string for m in read_mo(compiled) if m.id}
    with MO.open("rb") as f:
        shipped = {(m.context, m.id): m.string for m in read_mo(f) if m.id}
    assert shipped == fresh, "messages.mo is stale: run make messages"


def test_glossary_labels_are_japanese_and_never_the_raw_code() -> None:
    assert i18n.label("slot", "morning") == "朝"
    assert i18n.label("device_role", "help_button") == "見守りボタン"
    assert i18n.label("audit", "household.view") == "世帯ページの閲覧"
    assert i18n.label("state", "resolved") == "対応完了"
    assert i18n.label("safety_status", "needs_help") == "助けが必要"
    # Codes nobody has named yet get the section's generic label, not the code.
    assert i18n.label("device_role", "laser_tripwire") == "センサー"
    assert i18n.label("audit", "household.teleport") == "その他の操作"
    for kind, prefix in i18n.GLOSSARY_PREFIX.items():
        for key in (k for k in i18n.TEXT if k.startswith(prefix)):
            code = key.removeprefix(prefix)
            assert i18n.label(kind, code).isascii() is False, (kind, code)
