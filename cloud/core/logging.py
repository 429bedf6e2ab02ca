"""Structured logs: one JSON object per line on stderr, through the standard logging module.

`log_event(logger, "mail.sent", mail_id=..., incident_id=...)` writes
{"ts": ..., "level": "info", "logger": ..., "event": "mail.sent", "mail_id": ..., ...}.
Anything logged the ordinary way (log.info("text %s", x)) comes out as {"event": "text x"}.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed through `extra` and is a field.
# (uvicorn adds `color_message`, its terminal copy of the message: not a field.)
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
FIELDS_ATTR = "mimamori_fields"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, FIELDS_ATTR, {}))
        line.update(
            (k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRS and k != FIELDS_ATTR
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


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
        logger.log(level, event, exc_info=exc_info, extra={FIELDS_ATTR: fields})


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    """JSON lines on stderr for the whole process (the worker and CLI call this once)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def uvicorn_log_config(*, access_log: bool = False, level: str = "INFO") -> dict[str, Any]:
    """`uvicorn.run(log_config=...)`: the API process (each of its workers) writes the same
    JSON lines as the worker, uvicorn's own loggers included; the access log only on request
    (one line per request is a lot of lines, and the routes log what matters)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cloud.core.logging.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": access_log, "level": level},
        },
    }
