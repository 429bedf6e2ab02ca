"""What a passed deadline means (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta


def classify_miss(
    checkin_status: str | None,
    last_heartbeat_at: datetime | None,
    deadline: datetime,
    stale_after: timedelta,
    *,
    has_gateway: bool = True,
) -> str | None:
    """What a passed deadline means: None (answered, or nothing installed), resident silent,
    or gateway offline.

    A household without an enrolled gateway (未設置) is not watched yet: nobody was asked,
    and no device went silent, so nothing escalates. A gateway that reported no_response was
    alive and asked: the resident did not answer. Without any report, a fresh heartbeat still
    means the resident, a stale one the gateway.
    """
    if not has_gateway or checkin_status == "answered":
        return None
    if checkin_status == "no_response":
        return "missed_checkin"
    if last_heartbeat_at is not None and deadline - last_heartbeat_at <= stale_after:
        return "missed_checkin"
    return "gateway_offline"
