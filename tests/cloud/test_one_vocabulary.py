"""One vocabulary (issue 14): mails and pages use the glossary's terms, never the old ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.mail import alert_text, compose
from cloud.services import gateways
from cloud.web import i18n

ROOT = Path(__file__).resolve().parents[2]
# Old words the glossary replaced: 見守り機, 助けが必要 (要支援 is the care-insurance level),
# 対応完了 (one term for closing a case).
FORBIDDEN = ("見守り機器", "ゲートウェイ", "要支援", "解決にする", "助けを求める")
TEMPLATES = sorted(
    [*(ROOT / "cloud/mail/templates").glob("*.j2"), *(ROOT / "cloud/web/templates").glob("*.html")]
)
JA_CATALOG = ROOT / "cloud/web/locale/ja/LC_MESSAGES/messages.po"


def test_templates_are_found() -> None:
    names = {path.name for path in TEMPLATES}
    assert {"alert.txt.j2", "alert.html.j2", "desk.html", "safety.html"} <= names


@pytest.mark.parametrize("path", [*TEMPLATES, JA_CATALOG], ids=lambda path: path.name)
def test_no_old_term_in_templates_or_catalog(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert [term for term in FORBIDDEN if term in text] == []


def mail_phrases() -> list[str]:
    return [
        *compose.CAUSE_HEADLINES.values(),
        *compose.INTENT_LABELS.values(),
        *alert_text.HELP_BY_TRIGGER.values(),
        *alert_text.CAUSE_TEXTS.values(),
        gateways.GATEWAY_BACK_NOTE,
    ]


def test_no_old_term_in_mail_phrases() -> None:
    assert [p for p in mail_phrases() if any(term in p for term in FORBIDDEN)] == []


def test_mail_words_are_the_glossary_words() -> None:
    assert i18n.label("cause", "help_requested") in compose.CAUSE_HEADLINES["help_requested"]
    assert i18n.label("intent", "help") in compose.INTENT_LABELS["help"]
    assert i18n.label("intent", "unwell") == compose.INTENT_LABELS["unwell"]
    assert gateways.GATEWAY_BACK_NOTE.startswith(i18n.label("outcome", "gateway_back"))
    assert i18n.text("gateway") in compose.CAUSE_HEADLINES["gateway_offline"]
    assert "助けが必要" in compose.CAUSE_HEADLINES["safety_needs_help"]
    assert i18n.label("safety_status", "needs_help") == "助けが必要"
