"""Structured logs: one JSON object per line (journald keeps it), or plain text for people.

The line is the cloud's (cloud/core/logging.py), field for field, so one log pipeline reads
both sides: {"ts", "level", "logger", "event", ...fields}. The gateway may not import the
cloud, so this is the small equivalent (tests/gateway/test_logs.py compares the two).

`log_event(log, "slot.ended", slot="morning", outcome="answered")` writes one line; once the
daemon knows its ids, every line also carries `gateway_id` and `household_id`.
Privacy (docs/privacy.md): audio and words stay home. Logs name outcomes, ids and counts,
never what the resident said; a field named like a transcript is dropped, not written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["json", "text"]
FIELDS_ATTR = "mimamori_fields"  # the cloud's name: the same records, the same lines
# Attributes every LogRecord has; anything else was passed through `extra` and is a field.
# (uvicorn adds `color_message`, its terminal copy of the message: not a field.)
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
# What the resident said or sounded like never goes into a log line.
PRIVATE_FIELDS = frozenset(
    {"transcript", "transcripts", "text", "trouble_text", "heard", "audio", "words"}
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, FIELDS_ATTR, {}))
    fields.update(
        (k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRS and k != FIELDS_ATTR
    )
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the usual line, then the fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        if not fields:
            return text
        head, sep, tail = text.partition("\n")  # fields before any traceback
        return f"{head} {fields}{sep}{tail}"


class _Ids(logging.Filter):
    """Adds the daemon's ids to every record this handler writes (unless it names its own)."""

    def __init__(self, ids: Mapping[str, str]) -> None:
        super().__init__()
        self.ids = dict(ids)

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, FIELDS_ATTR, None)
        merged = {**self.ids, **(fields or {})}
        setattr(record, FIELDS_ATTR, merged)
        return True


def log_event(
    logger: logging.Logger,
    event: str,
    level: int = logging.INFO,
    *,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """One structured line: `event` names what happened, fields say to what (ids, counts)."""
    if logger.isEnabledFor(level):
        kept = {k: v for k, v in fields.items() if k not in PRIVATE_FIELDS}
        logger.log(level, event, exc_info=exc_info, extra={FIELDS_ATTR: kept})


def setup_logging(
    fmt: LogFormat | str = "json",
    level: int = logging.INFO,
    *,
    stream: TextIO | None = None,
    ids: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Route every log line of the process to one handler on stderr (or `stream`).

    json: one object per line (the default under systemd: journald and log shippers read
    it); text: for a person running the daemon by hand. Returns the handler.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if ids:
        handler.addFilter(_Ids(ids))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
