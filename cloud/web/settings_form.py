"""The household page's 音声・見守り設定 form: form fields <-> SettingsChange, errors as
translation keys next to the field that caused them (pure apart from reading the household)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud.models import Household
from cloud.services.household_settings import SettingError, SettingsChange, validated
from mimamori_wire.v1 import Question

# Health is always asked (and shown as fixed); these are the ones staff may add per slot.
OPTIONAL_QUESTIONS = tuple(q.value for q in Question if q != Question.HEALTH)
FormList = Callable[[str], list[str]]


def question_field(slot_name: str) -> str:
    return f"q_{slot_name}"


def values_of(household: Household) -> dict[str, Any]:
    """What the form shows for the stored settings."""
    return {
        "tts_speed": f"{household.tts_speed:g}",
        "tts_volume": f"{household.tts_volume:g}",
        "share_transcripts": household.share_transcripts,
        "quiet_start": household.quiet_start,
        "quiet_end": household.quiet_end,
        "inactivity_deadline": household.inactivity_deadline or "",
        "questions": {slot.name: set(slot.questions) for slot in household.slots},
    }


def values_from_form(form: dict[str, str], form_list: FormList, household: Household) -> dict:
    """What was typed, shown again with the errors (nothing the person entered is lost)."""
    return {
        "tts_speed": form.get("tts_speed", ""),
        "tts_volume": form.get("tts_volume", ""),
        "share_transcripts": bool(form.get("share_transcripts")),
        "quiet_start": form.get("quiet_start", ""),
        "quiet_end": form.get("quiet_end", ""),
        "inactivity_deadline": form.get("inactivity_deadline", ""),
        "questions": {s.name: set(form_list(question_field(s.name))) for s in household.slots},
    }


def _number(form: dict[str, str], field: str, errors: dict[str, str]) -> float | None:
    try:
        return float(form.get(field, "").strip())
    except ValueError:
        errors[field] = f"err_setting_{field}"
        return None


def parse(
    form: dict[str, str], form_list: FormList, household: Household
) -> tuple[SettingsChange, dict[str, str]]:
    """-> the change and {field: error key}; every field is checked, so all errors show."""
    errors: dict[str, str] = {}
    parts = {
        "tts_speed": SettingsChange(tts_speed=_number(form, "tts_speed", errors)),
        "tts_volume": SettingsChange(tts_volume=_number(form, "tts_volume", errors)),
        "quiet_hours": SettingsChange(
            quiet_start=form.get("quiet_start", "").strip(),
            quiet_end=form.get("quiet_end", "").strip(),
        ),
        "inactivity_deadline": SettingsChange(
            inactivity_deadline=form.get("inactivity_deadline", "").strip()
        ),
    }
    questions = {s.name: form_list(question_field(s.name)) for s in household.slots}
    if any(q not in OPTIONAL_QUESTIONS for chosen in questions.values() for q in chosen):
        errors["questions"] = "err_setting_questions"
    for field, part in parts.items():
        if field in errors:
            continue
        try:
            validated(household, part)
        except SettingError:
            errors[field] = f"err_setting_{field}"
    change = SettingsChange(
        tts_speed=parts["tts_speed"].tts_speed,
        tts_volume=parts["tts_volume"].tts_volume,
        share_transcripts=bool(form.get("share_transcripts")),
        quiet_start=parts["quiet_hours"].quiet_start,
        quiet_end=parts["quiet_hours"].quiet_end,
        inactivity_deadline=parts["inactivity_deadline"].inactivity_deadline,
        slot_questions=questions,
    )
    return change, errors
