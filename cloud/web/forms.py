"""Parsing form fields into values or translated error keys (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cloud.services import text

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# A schedule time this far in the past is a typo, not "now".
PAST_TOLERANCE = timedelta(minutes=2)


class FieldError(ValueError):
    def __init__(self, field: str, key: str) -> None:
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key


def required_text(form: dict[str, str], field: str, max_len: int, multiline: bool = False) -> str:
    """A filled-in field: one line without control characters (cloud.services.text), or
    with line breaks (a textarea; CRLF becomes LF) when multiline."""
    value = form.get(field, "")
    if multiline:
        value = text.normalise_newlines(value)
    if not text.is_clean(value, multiline):
        raise FieldError(field, "err_control_chars")
    value = value.strip()
    if not value:
        raise FieldError(field, "err_required")
    if len(value) > max_len:
        raise FieldError(field, "err_too_long")
    return value


def local_datetime(value: str, zone: str, now: datetime, field: str = "when") -> datetime:
    """An <input type=datetime-local> value in the municipality's zone; empty means now."""
    value = value.strip()
    if not value:
        return now
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "err_invalid_datetime") from None
    if naive.tzinfo is not None:
        raise FieldError(field, "err_invalid_datetime")
    when = naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    if when < now - PAST_TOLERANCE:
        raise FieldError(field, "err_past_datetime")
    return max(when, now)


def month(value: str) -> tuple[int, int]:
    match = _MONTH_RE.match(value.strip())
    if not match:
        raise FieldError("month", "err_invalid_month")
    return int(match.group(1)), int(match.group(2))
