"""How the gateway speaks to and watches one household: voice speed and volume, transcripts,
quiet hours, the inactivity deadline (admin API, CLI and dashboard share this)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cloud.models import Household
from cloud.services.tenancy import Invalid, changed, checked_questions

TTS_SPEED_RANGE = (0.5, 1.5)
TTS_VOLUME_RANGE = (0.1, 2.0)
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_RANGE_RE = re.compile(r"^\s*(\S+)\s*[-–〜~]\s*(\S+)\s*$")


class SettingError(Invalid):
    """A bad value for one setting; `field` lets forms show the error next to the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class SettingsChange:
    """Only the fields that are not None change; inactivity_deadline "" means switch off."""

    tts_speed: float | None = None
    tts_volume: float | None = None
    share_transcripts: bool | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    inactivity_deadline: str | None = None
    # slot name -> questions (health is added first whatever is sent)
    slot_questions: dict[str, list[str]] | None = None


def hhmm(value: str, field: str) -> str:
    value = value.strip()
    if not _HHMM_RE.match(value):
        raise SettingError(field, f"{value!r} is not a 24-hour HH:MM time")
    return value


def quiet_range(value: str) -> tuple[str, str]:
    """Parse "21:00-06:30" into ("21:00", "06:30"); the range may wrap over midnight."""
    match = _RANGE_RE.match(value)
    if not match:
        raise SettingError("quiet_hours", f"{value!r} is not START-END, e.g. 21:00-06:30")
    return hhmm(match.group(1), "quiet_hours"), hhmm(match.group(2), "quiet_hours")


def deadline_or_none(value: str) -> str:
    """CLI/form input: HH:MM, or "none"/empty to switch the inactivity check off ("")."""
    value = value.strip()
    if value.lower() in ("", "none", "off"):
        return ""
    return hhmm(value, "inactivity_deadline")


def _in_range(value: float, bounds: tuple[float, float], field: str) -> float:
    low, high = bounds
    if not low <= value <= high:
        raise SettingError(field, f"{value} is outside {low} to {high}")
    return round(float(value), 2)


def validated(household: Household, change: SettingsChange) -> dict[str, Any]:
    """Pure: the new column values, checked; raises SettingError on the first bad one."""
    values: dict[str, Any] = {}
    if change.tts_speed is not None:
        values["tts_speed"] = _in_range(change.tts_speed, TTS_SPEED_RANGE, "tts_speed")
    if change.tts_volume is not None:
        values["tts_volume"] = _in_range(change.tts_volume, TTS_VOLUME_RANGE, "tts_volume")
    if change.share_transcripts is not None:
        values["share_transcripts"] = bool(change.share_transcripts)
    if change.quiet_start is not None or change.quiet_end is not None:
        start = change.quiet_start if change.quiet_start is not None else household.quiet_start
        end = change.quiet_end if change.quiet_end is not None else household.quiet_end
        start, end = hhmm(start, "quiet_hours"), hhmm(end, "quiet_hours")
        if start == end:
            raise SettingError("quiet_hours", "quiet hours must start and end at different times")
        values["quiet_start"], values["quiet_end"] = start, end
    if change.inactivity_deadline is not None:
        deadline = change.inactivity_deadline.strip()
        values["inactivity_deadline"] = hhmm(deadline, "inactivity_deadline") if deadline else None
    return values


def apply(
    session: Session, household: Household, change: SettingsChange, now: datetime
) -> list[str]:
    """Set the changed values; bump config_version only if something really changed.
    Returns the names of the changed settings (for the audit log)."""
    # Everything is checked before anything is set: a form re-shown with an error must not
    # leave half of the change in the transaction.
    values = validated(household, change)
    questions = _checked_slot_questions(household, change.slot_questions or {})
    changed_fields = [name for name, value in values.items() if getattr(household, name) != value]
    for name in changed_fields:
        setattr(household, name, values[name])
    for slot in household.slots:
        if slot.name in questions and slot.questions != questions[slot.name]:
            slot.questions = questions[slot.name]
            changed_fields.append(f"questions.{slot.name}")
    if changed_fields:
        changed(session, household, now)
        session.flush()
    return changed_fields


def _checked_slot_questions(
    household: Household, wanted: dict[str, list[str]]
) -> dict[str, list[str]]:
    unknown = sorted(set(wanted) - {slot.name for slot in household.slots})
    if unknown:
        raise SettingError("questions", f"no slot named {', '.join(unknown)}")
    try:
        return {name: checked_questions(questions) for name, questions in wanted.items()}
    except Invalid as exc:
        raise SettingError("questions", str(exc)) from None


def settings_json(household: Household) -> dict[str, Any]:
    return {
        "tts_speed": household.tts_speed,
        "tts_volume": household.tts_volume,
        "share_transcripts": household.share_transcripts,
        "quiet_hours": {"start": household.quiet_start, "end": household.quiet_end},
        "inactivity_deadline": household.inactivity_deadline,
    }
