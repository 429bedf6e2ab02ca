"""The gateway <-> cloud wire contract, version 1 (ARCHITECTURE.md section 3.1).

This is the only module both sides import. It depends on pydantic alone, so the gateway
install never pulls in the server stack and the cloud never pulls in audio or BLE.
Extend kinds and fields additively; never rename. A breaking change is a new module (v2).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_BATCH_EVENTS = 500
API_PREFIX = "/api/v1"

_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def new_event_id(now_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so ids sort roughly by creation on the gateway.

    Written here (a dozen lines) because the contract may depend on pydantic only.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventKind(StrEnum):
    CHECKIN_ANSWERED = "checkin.answered"
    CHECKIN_NO_RESPONSE = "checkin.no_response"
    HELP_REQUESTED = "help.requested"
    REQUEST_CALLBACK = "request.callback"
    REQUEST_TROUBLE = "request.trouble"
    ACTIVITY = "activity"
    ACTIVITY_SUMMARY = "activity.summary"
    INACTIVITY = "inactivity"
    ENVIRONMENT_ALERT = "environment.alert"
    DEVICE_BATTERY_LOW = "device.battery_low"
    DEVICE_SILENT = "device.silent"
    DEVICE_BACK = "device.back"
    ANNOUNCEMENT_PLAYED = "announcement.played"
    ANNOUNCEMENT_HEARD = "announcement.heard"
    SAFETY_CHECK_ANSWERED = "safety_check.answered"
    COMMAND_DONE = "command.done"
    GATEWAY_STARTED = "gateway.started"
    GATEWAY_CLOCK_SKEW = "gateway.clock_skew"
    OUTBOX_ALARM = "gateway.outbox_alarm"


class Intent(StrEnum):
    """What the resident meant. Health answers follow the phone service's 1/2/3."""

    FINE = "fine"  # 元気
    USUAL = "usual"  # いつも通り
    UNWELL = "unwell"  # 元気がない
    YES = "yes"
    NO = "no"
    HELP = "help"
    CALLBACK = "callback"
    TROUBLE = "trouble"
    REPEAT = "repeat"
    UNKNOWN = "unknown"


HEALTH_INTENTS = frozenset({Intent.FINE, Intent.USUAL, Intent.UNWELL})


class _Payload(BaseModel):
    # Unknown extra payload fields are kept: an older cloud must not drop a newer field.
    model_config = ConfigDict(extra="allow")


class AnswerSource(StrEnum):
    VOICE = "voice"
    BUTTON = "button"


class CheckinAnswered(_Payload):
    slot: str = Field(min_length=1, max_length=32)
    slot_date: str | None = Field(default=None, description="local date of the slot, YYYY-MM-DD")
    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    attempts: int = Field(ge=1, le=20)
    source: AnswerSource = AnswerSource.VOICE
    transcript: str | None = Field(default=None, max_length=2000)
    answers: dict[str, Intent] = Field(
        default_factory=dict, description="follow-up questions: medicine/meal/sleep -> yes/no"
    )


class CheckinNoResponse(_Payload):
    slot: str = Field(min_length=1, max_length=32)
    slot_date: str | None = None
    attempts: int = Field(ge=0, le=20)
    reason: Literal["silent", "not_understood", "gateway_down", "paused"] = "silent"


class HelpRequested(_Payload):
    source: AnswerSource
    transcript: str | None = Field(default=None, max_length=2000)
    device: str | None = None


class RequestCallback(_Payload):
    transcript: str | None = Field(default=None, max_length=2000)


class RequestTrouble(_Payload):
    text: str = Field(default="", max_length=2000)
    category: str | None = Field(default=None, max_length=64)


class Activity(_Payload):
    sensor: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=32)
    room: str | None = Field(default=None, max_length=64)


class ActivitySummary(_Payload):
    hour_start: AwareDatetime
    counts: dict[str, int] = Field(description="room -> activity count in the hour")
    first_activity_at: AwareDatetime | None = None
    last_activity_at: AwareDatetime | None = None


class Inactivity(_Payload):
    since: AwareDatetime | None = None
    deadline_local: str = Field(description="HH:MM by which activity was expected")


class EnvironmentAlert(_Payload):
    sensor: str
    condition: Literal["heat", "cold", "humidity"]
    temperature_c: float | None = None
    humidity_pct: float | None = None
    duration_s: int = 0


class DeviceEvent(_Payload):
    device: str = Field(min_length=1, max_length=64)
    role: str | None = None
    battery_pct: int | None = Field(default=None, ge=0, le=100)
    last_seen_at: AwareDatetime | None = None


class AnnouncementEvent(_Payload):
    announcement_id: str
    command_id: str | None = None


class SafetyCheckAnswered(_Payload):
    check_id: str
    status: Literal["safe", "needs_help", "no_answer"]
    transcript: str | None = Field(default=None, max_length=2000)
    command_id: str | None = None


class CommandDone(_Payload):
    command_id: str
    ok: bool = True
    detail: str | None = Field(default=None, max_length=500)


class GatewayStarted(_Payload):
    software_version: str
    previous_shutdown: Literal["clean", "unclean", "first_boot"] = "clean"
    missed_slots: list[str] = Field(default_factory=list)


class ClockSkew(_Payload):
    skew_s: float
    source: Literal["cloud_date", "kernel", "jump"]
    synchronized: bool | None = None


class OutboxAlarm(_Payload):
    depth: int
    capacity: int


PAYLOAD_MODELS: dict[EventKind, type[_Payload]] = {
    EventKind.CHECKIN_ANSWERED: CheckinAnswered,
    EventKind.CHECKIN_NO_RESPONSE: CheckinNoResponse,
    EventKind.HELP_REQUESTED: HelpRequested,
    EventKind.REQUEST_CALLBACK: RequestCallback,
    EventKind.REQUEST_TROUBLE: RequestTrouble,
    EventKind.ACTIVITY: Activity,
    EventKind.ACTIVITY_SUMMARY: ActivitySummary,
    EventKind.INACTIVITY: Inactivity,
    EventKind.ENVIRONMENT_ALERT: EnvironmentAlert,
    EventKind.DEVICE_BATTERY_LOW: DeviceEvent,
    EventKind.DEVICE_SILENT: DeviceEvent,
    EventKind.DEVICE_BACK: DeviceEvent,
    EventKind.ANNOUNCEMENT_PLAYED: AnnouncementEvent,
    EventKind.ANNOUNCEMENT_HEARD: AnnouncementEvent,
    EventKind.SAFETY_CHECK_ANSWERED: SafetyCheckAnswered,
    EventKind.COMMAND_DONE: CommandDone,
    EventKind.GATEWAY_STARTED: GatewayStarted,
    EventKind.GATEWAY_CLOCK_SKEW: ClockSkew,
    EventKind.OUTBOX_ALARM: OutboxAlarm,
}

# Uplink order: a help request must never wait behind a day of sensor summaries.
KIND_PRIORITY: dict[EventKind, int] = {
    EventKind.HELP_REQUESTED: 0,
    EventKind.CHECKIN_ANSWERED: 1,
    EventKind.CHECKIN_NO_RESPONSE: 1,
    EventKind.SAFETY_CHECK_ANSWERED: 1,
    EventKind.REQUEST_CALLBACK: 1,
    EventKind.INACTIVITY: 1,
    EventKind.ENVIRONMENT_ALERT: 1,
}
DEFAULT_PRIORITY = 5


def priority_of(kind: EventKind | str) -> int:
    try:
        return KIND_PRIORITY.get(EventKind(kind), DEFAULT_PRIORITY)
    except ValueError:
        return DEFAULT_PRIORITY


def _check_event_id(value: str) -> str:
    if _ULID_RE.match(value.upper()):
        return value.upper()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("id must be a UUID (v7 preferred) or a ULID") from None


EventId = Annotated[str, Field(min_length=26, max_length=36)]


class Event(BaseModel):
    """The envelope of everything a gateway reports. Made on the gateway, never changed."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    id: EventId
    household_id: str = Field(min_length=1, max_length=64)
    gateway_id: str = Field(min_length=1, max_length=64)
    kind: EventKind
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)
    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_event_id(value)

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _valid_payload(self) -> Event:
        model = PAYLOAD_MODELS[self.kind]
        self.payload = model.model_validate(self.payload).model_dump(mode="json")
        return self

    def typed_payload(self) -> Any:
        return PAYLOAD_MODELS[self.kind].model_validate(self.payload)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def create(
        cls,
        *,
        household_id: str,
        gateway_id: str,
        kind: EventKind,
        payload: BaseModel | dict[str, Any],
        occurred_at: datetime | None = None,
        recorded_at: datetime | None = None,
    ) -> Event:
        now = utcnow()
        body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        return cls(
            id=new_event_id(),
            household_id=household_id,
            gateway_id=gateway_id,
            kind=kind,
            occurred_at=occurred_at or now,
            recorded_at=recorded_at or now,
            payload=body,
        )


class EventBatch(BaseModel):
    """Request body of POST /api/v1/gateway/events."""

    model_config = ConfigDict(extra="forbid")
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class RejectedEvent(BaseModel):
    id: str | None
    error: str


class BatchResult(BaseModel):
    """Response of POST /api/v1/gateway/events, sent only after the rows are committed.

    `rejected` is an additive extension: an event that fails validation on its own is
    reported here (and counted) instead of failing the whole batch, so one bad event can
    never block the good events behind it in a gateway's outbox.
    """

    accepted: list[str] = Field(default_factory=list)
    duplicates: list[str] = Field(default_factory=list)
    rejected: list[RejectedEvent] = Field(default_factory=list)


def parse_batch_leniently(body: Any) -> tuple[list[Event], list[RejectedEvent]]:
    """Validate each event of a raw batch on its own: good events pass, bad ones are named.

    Raises ValueError when the body is not a batch at all, and OverflowError for more than
    MAX_BATCH_EVENTS events.
    """
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ValueError('body must be an object {"events": [...]}')
    extra = set(body) - {"events"}
    if extra:
        raise ValueError(f"unknown top-level fields: {sorted(extra)}")
    raw_events = body["events"]
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise OverflowError(f"{len(raw_events)} events in one batch; at most {MAX_BATCH_EVENTS}")
    if not raw_events:
        raise ValueError("events must not be empty")
    good: list[Event] = []
    bad: list[RejectedEvent] = []
    for raw in raw_events:
        try:
            good.append(Event.model_validate(raw))
        except ValidationError as exc:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            bad.append(RejectedEvent(id=str(raw_id) if raw_id else None, error=_short(exc)))
    return good, bad


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


# --- enrollment -------------------------------------------------------------------------


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enrollment_code: str = Field(min_length=6, max_length=64)
    hardware_id: str = Field(min_length=1, max_length=128)
    software_version: str = Field(min_length=1, max_length=64)


class EnrollResponse(BaseModel):
    gateway_id: str
    household_id: str
    token: str = Field(description="shown once; the cloud stores only its hash")
    config_version: int


# --- heartbeat and commands -----------------------------------------------------------------


class DeviceHealth(BaseModel):
    model_config = ConfigDict(extra="allow")
    device: str
    role: str | None = None
    room: str | None = None
    battery_pct: int | None = Field(default=None, ge=0, le=100)
    last_seen_at: AwareDatetime | None = None
    silent: bool = False


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow")
    software_version: str
    uptime_s: float = Field(ge=0)
    outbox_depth: int = Field(ge=0)
    devices: list[DeviceHealth] = Field(default_factory=list, max_length=200)
    bytes_written_per_event: float | None = None
    clock_synchronized: bool | None = None
    gateway_time: AwareDatetime | None = None
    ble_status: str | None = None
    audio_status: str | None = None
    model_status: str | None = None


class CommandKind(StrEnum):
    REPROMPT = "reprompt"
    ANNOUNCEMENT = "announcement"
    SAFETY_CHECK = "safety_check"
    RELOAD_CONFIG = "reload_config"


class Command(BaseModel):
    """An instruction from the cloud; acknowledged by a `command.done` event."""

    id: str
    kind: CommandKind
    issued_at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)


class HeartbeatResponse(BaseModel):
    config_version: int
    server_time: AwareDatetime
    commands: list[Command] = Field(default_factory=list)


# --- household configuration --------------------------------------------------------------


class Question(StrEnum):
    HEALTH = "health"
    MEDICINE = "medicine"
    MEAL = "meal"
    SLEEP = "sleep"


class Slot(BaseModel):
    name: str = Field(min_length=1, max_length=32, description="e.g. morning, medicine, evening")
    time: str = Field(description="local HH:MM")
    window_min: int = Field(default=30, ge=5, le=240)
    grace_min: int = Field(default=5, ge=0, le=120)
    reask_offsets_min: list[int] = Field(default_factory=lambda: [10, 20])
    questions: list[Question] = Field(default_factory=lambda: [Question.HEALTH])

    @field_validator("time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM_RE.match(value):
            raise ValueError("time must be HH:MM (24 h)")
        return value


class Pause(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    reason: str = ""


class QuietHours(BaseModel):
    start: str = "21:00"
    end: str = "06:30"


class PairedDeviceExpectation(BaseModel):
    device: str
    role: str
    room: str | None = None
    silent_after_s: int = 6 * 3600


class GatewayConfig(BaseModel):
    """GET /api/v1/gateway/config: everything the gateway needs to work offline."""

    model_config = ConfigDict(extra="allow")
    household_id: str
    config_version: int
    timezone: str = "Asia/Tokyo"
    language: Literal["ja", "ko", "en"] = "ja"
    slots: list[Slot] = Field(default_factory=list, max_length=3)
    pauses: list[Pause] = Field(default_factory=list)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    tts_speed: float = Field(default=1.0, ge=0.5, le=1.5)
    tts_volume: float = Field(default=1.0, ge=0.1, le=2.0)
    inactivity_deadline: str | None = Field(default="10:00", description="local HH:MM")
    heartbeat_interval_s: int = Field(default=60, ge=10, le=3600)
    prompts: dict[str, str] = Field(default_factory=dict)
    devices: list[PairedDeviceExpectation] = Field(default_factory=list)
    # The household opted in to sending transcripts for quality review; off by default, the
    # cloud then gets intents only (docs/privacy.md).
    share_transcripts: bool = False


# --- errors -------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every 4xx from the gateway API has this shape."""

    error: str = Field(description="stable machine code, e.g. invalid_token")
    detail: str = Field(description="one clear sentence for a person")


__all__ = [
    "API_PREFIX",
    "DEFAULT_PRIORITY",
    "HEALTH_INTENTS",
    "KIND_PRIORITY",
    "MAX_BATCH_EVENTS",
    "PAYLOAD_MODELS",
    "SCHEMA_VERSION",
    "Activity",
    "ActivitySummary",
    "AnnouncementEvent",
    "AnswerSource",
    "BatchResult",
    "CheckinAnswered",
    "CheckinNoResponse",
    "ClockSkew",
    "Command",
    "CommandDone",
    "CommandKind",
    "DeviceEvent",
    "DeviceHealth",
    "EnrollRequest",
    "EnrollResponse",
    "EnvironmentAlert",
    "ErrorBody",
    "Event",
    "EventBatch",
    "EventId",
    "EventKind",
    "GatewayConfig",
    "GatewayStarted",
    "Heartbeat",
    "HeartbeatResponse",
    "HelpRequested",
    "Inactivity",
    "Intent",
    "OutboxAlarm",
    "PairedDeviceExpectation",
    "Pause",
    "Question",
    "QuietHours",
    "RejectedEvent",
    "RequestCallback",
    "RequestTrouble",
    "SafetyCheckAnswered",
    "Slot",
    "new_event_id",
    "parse_batch_leniently",
    "priority_of",
    "utcnow",
]
