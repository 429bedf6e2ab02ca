"""The gateway <-> cloud wire contract, version 1 (ARCHITECTURE.md section 3.1).

This is the only module both sides import. It depends on pydantic alone, so the gateway
install never pulls in the server stack and the cloud never pulls in audio or BLE.
Extend kinds and fields additively; never rename. A breaking change is a new module (v2).
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION: Final = 1
MAX_BATCH_EVENTS = 500
API_PREFIX = "/api/v1"

_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

# --- what any inbound body may hold (both sides refuse the rest) -------------------------
# Every text is stored (PostgreSQL refuses NUL and lone surrogates) and shown on pages and in
# mails, so control characters are refused everywhere. TAB, LF and CR are allowed: free text
# (transcripts, trouble reports) may legitimately span lines; identifiers are bounded by their
# own field rules and never reach a mail header from here.
_FORBIDDEN_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_NESTING = 10  # containers inside containers, counted from the body
MAX_TEXT_CHARS = 4000  # any one string (typed fields have tighter limits of their own)
MAX_ITEMS = 10_000  # values in one event or heartbeat, all levels together
MAX_ABS_INT = 2**53  # numbers (int or float) JSON readers everywhere agree on
# The sane window for event times, judged by the cloud against its own clock: before this
# no gateway existed; after `now + LATEST_EVENT_AHEAD` the clock is wrong, not the event.
EARLIEST_EVENT_TIME = datetime(2020, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=1)


def check_wire_safe(value: Any) -> None:
    """Refuse what can never be stored or shown safely, anywhere in a raw body.

    Raises PydanticCustomError (so a model validator reports it as a ValidationError) with
    the type `non_finite`, `control_character`, `too_large` or `too_deep`. Ingest runs it on
    every event: exact type checks and recursion (bounded by MAX_NESTING) keep it cheap.
    """
    _check_node(value, 0, [0])


def _check_node(node: Any, depth: int, items: list[int]) -> None:
    kind = type(node)
    if kind is str:
        _check_text(node)
    elif kind is dict or kind is list or kind is tuple:
        if depth >= MAX_NESTING:
            raise PydanticCustomError("too_deep", "nested deeper than {n}", {"n": MAX_NESTING})
        items[0] += len(node)
        if items[0] > MAX_ITEMS:
            raise PydanticCustomError("too_large", "more than {n} values", {"n": MAX_ITEMS})
        if kind is dict:
            for key, item in node.items():
                if type(key) is str:
                    _check_text(key)
                _check_node(item, depth + 1, items)
        else:
            for item in node:
                _check_node(item, depth + 1, items)
    elif (kind is float or kind is int) and not -MAX_ABS_INT <= node <= MAX_ABS_INT:
        if kind is float and not math.isfinite(node):
            raise PydanticCustomError("non_finite", "NaN and Infinity are not numbers here")
        raise PydanticCustomError("too_large", "number beyond +-2**53")


def _check_text(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise PydanticCustomError("too_large", "text over {n} characters", {"n": MAX_TEXT_CHARS})
    bad = _FORBIDDEN_TEXT_RE.search(text)
    if bad:
        raise PydanticCustomError(
            "control_character",
            "control character U+{code} in text",
            {"code": f"{ord(bad.group()):04X}"},
        )


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
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


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


class DeviceStatus(_Payload):
    """device.battery_low / device.silent / device.back (not firmware_bridge's DeviceEvent)."""

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
    EventKind.DEVICE_BATTERY_LOW: DeviceStatus,
    EventKind.DEVICE_SILENT: DeviceStatus,
    EventKind.DEVICE_BACK: DeviceStatus,
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

    model_config = ConfigDict(extra="forbid", use_enum_values=False, allow_inf_nan=False)

    id: EventId
    household_id: str = Field(min_length=1, max_length=64)
    gateway_id: str = Field(min_length=1, max_length=64)
    kind: EventKind
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)
    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")

    @model_validator(mode="before")
    @classmethod
    def _wire_safe(cls, data: Any) -> Any:
        check_wire_safe(data)
        return data

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_event_id(value)

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+09:00 has no UTC form
            raise PydanticCustomError(
                "time_out_of_range", "time out of range once converted to UTC"
            ) from None

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
        stamped = recorded_at or now  # the id's time part follows the caller's clock too
        return cls(
            id=new_event_id(int(stamped.timestamp() * 1000)),
            household_id=household_id,
            gateway_id=gateway_id,
            kind=kind,
            occurred_at=occurred_at or stamped,
            recorded_at=recorded_at or now,
            payload=body,
        )


class EventBatch(BaseModel):
    """Request body of POST /api/v1/gateway/events."""

    model_config = ConfigDict(extra="forbid")
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


# Reason codes of RejectedEvent: a gateway keeps an event rejected for a RETRYABLE reason
# (its clock is ahead: resend later) and quarantines one rejected for any other reason.
REJECT_REASONS = {
    "invalid_event": "does not match the contract (kind, payload, id, ...)",
    "non_finite": "NaN or Infinity in a number",
    "control_character": "NUL or another control character in text",
    "too_large": "a text, number or structure over the contract's limits",
    "too_deep": "nested deeper than the contract allows",
    "time_out_of_range": "occurred_at/recorded_at outside 2020-01-01 .. now + 1 day",
    "clock_skew": "occurred_at ahead of the cloud's clock by more than the allowed skew",
    "storage_error": "the database refused this one event",
}
RETRYABLE_REJECT_REASONS = frozenset({"clock_skew"})


class RejectedEvent(BaseModel):
    id: str | None
    error: str
    reason: str = Field(default="invalid_event", description="a key of REJECT_REASONS")


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
            bad.append(RejectedEvent(id=_raw_id(raw), error=_short(exc), reason=_reason(exc)))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            bad.append(RejectedEvent(id=_raw_id(raw), error=str(exc)[:200]))
    return good, bad


def _raw_id(raw: Any) -> str | None:
    """The id as sent, when it is a plain id the gateway can match; else None."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(raw_id, str) and 0 < len(raw_id) <= 64 and raw_id.isprintable():
        return raw_id
    return None


_REASON_BY_ERROR_TYPE = {
    "finite_number": "non_finite",
    "non_finite": "non_finite",
    "control_character": "control_character",
    "too_large": "too_large",
    "string_too_long": "too_large",
    "too_long": "too_large",
    "too_deep": "too_deep",
    "time_out_of_range": "time_out_of_range",
}


def _reason(exc: ValidationError) -> str:
    for err in exc.errors():
        reason = _REASON_BY_ERROR_TYPE.get(err["type"])
        if reason:
            return reason
    return "invalid_event"


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


# --- enrollment -------------------------------------------------------------------------


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _wire_safe(cls, data: Any) -> Any:
        check_wire_safe(data)
        return data

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
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    device: str
    role: str | None = None
    room: str | None = None
    battery_pct: int | None = Field(default=None, ge=0, le=100)
    last_seen_at: AwareDatetime | None = None
    silent: bool = False


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _wire_safe(cls, data: Any) -> Any:
        check_wire_safe(data)
        return data

    # The cloud stores it in a 64-character column (as at enrollment): longer is a 422.
    software_version: str = Field(max_length=64)
    uptime_s: float = Field(ge=0)
    outbox_depth: int = Field(ge=0)
    devices: list[DeviceHealth] = Field(default_factory=list, max_length=200)
    bytes_written_per_event: float | None = None
    clock_synchronized: bool | None = None
    gateway_time: AwareDatetime | None = None
    ble_status: str | None = None
    audio_status: str | None = None
    model_status: str | None = None
    # Events the cloud kept refusing, held in the gateway's local quarantine (gateway/outbox.py).
    quarantined_events: int | None = Field(default=None, ge=0)
    mqtt_status: str | None = None
    outbox_alarm: bool | None = None
    outbox_write_errors: int | None = Field(default=None, ge=0)
    counters: dict[str, int] = Field(default_factory=dict, description="the daemon's counters")


class CommandKind(StrEnum):
    REPROMPT = "reprompt"
    ANNOUNCEMENT = "announcement"
    SAFETY_CHECK = "safety_check"
    RELOAD_CONFIG = "reload_config"


# One model per command; `kind` is the discriminator. Receiving side (the gateway): unknown
# fields are ignored and logged (`undeclared_fields`), so a newer cloud adding a field never
# breaks an older gateway; an unknown kind fails that one command only (command.done ok=false).
# Producing side (the cloud): its contract tests assert it sends no undeclared field.
class _CommandPart(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RepromptPayload(_CommandPart):
    slot: str | None = Field(default=None, max_length=32, description="name or HH:MM; none: latest")
    incident_id: str | None = None


class AnnouncementPayload(_CommandPart):
    announcement_id: str | None = None
    text: str = Field(min_length=1, max_length=2000)
    play_at: AwareDatetime | None = Field(default=None, description="held until then")
    urgent: bool = Field(default=False, description="may play in quiet hours")


class SafetyCheckPayload(_CommandPart):
    check_id: str | None = None
    question: str | None = Field(default=None, max_length=500)


class ReloadConfigPayload(_CommandPart):
    pass


class _CommandBase(_CommandPart):
    """An instruction from the cloud; acknowledged by a `command.done` event."""

    id: str = Field(min_length=1, max_length=64)
    issued_at: AwareDatetime


class RepromptCommand(_CommandBase):
    kind: Literal[CommandKind.REPROMPT] = CommandKind.REPROMPT
    payload: RepromptPayload = Field(default_factory=RepromptPayload)


class AnnouncementCommand(_CommandBase):
    kind: Literal[CommandKind.ANNOUNCEMENT] = CommandKind.ANNOUNCEMENT
    payload: AnnouncementPayload


class SafetyCheckCommand(_CommandBase):
    kind: Literal[CommandKind.SAFETY_CHECK] = CommandKind.SAFETY_CHECK
    payload: SafetyCheckPayload = Field(default_factory=SafetyCheckPayload)


class ReloadConfigCommand(_CommandBase):
    kind: Literal[CommandKind.RELOAD_CONFIG] = CommandKind.RELOAD_CONFIG
    payload: ReloadConfigPayload = Field(default_factory=ReloadConfigPayload)


Command = Annotated[
    RepromptCommand | AnnouncementCommand | SafetyCheckCommand | ReloadConfigCommand,
    Field(discriminator="kind"),
]
CommandPayload = RepromptPayload | AnnouncementPayload | SafetyCheckPayload | ReloadConfigPayload
COMMAND_BY_PAYLOAD: dict[type[BaseModel], type[BaseModel]] = {
    RepromptPayload: RepromptCommand,
    AnnouncementPayload: AnnouncementCommand,
    SafetyCheckPayload: SafetyCheckCommand,
    ReloadConfigPayload: ReloadConfigCommand,
}
_COMMAND = TypeAdapter(Command)


def command_kind(payload: CommandPayload) -> CommandKind:
    """The kind a payload travels under (the cloud stores kind and payload in one row)."""
    kind = COMMAND_BY_PAYLOAD[type(payload)].model_fields["kind"].default
    return CommandKind(kind)


def parse_command(raw: Any) -> Command:
    """One command as sent by the cloud; raises ValidationError (unknown kind, bad payload)."""
    return _COMMAND.validate_python(raw)


def undeclared_fields(model: BaseModel, raw: Any, prefix: str = "") -> list[str]:
    """Paths in `raw` that the parsed `model` does not declare (nested models and lists too).

    The receiving side logs them (version skew: a newer peer may add fields); contract tests
    assert the producing side sends none.
    """
    if not isinstance(raw, dict):
        return []
    declared: dict[str, str] = {}
    for name, info in type(model).model_fields.items():
        declared[name] = name
        if info.alias:
            declared[info.alias] = name
    found: list[str] = []
    for key, value in raw.items():
        field_name = declared.get(str(key))
        if field_name is None:
            found.append(f"{prefix}{key}")
            continue
        found.extend(_undeclared_inside(getattr(model, field_name), value, f"{prefix}{key}"))
    return found


def _undeclared_inside(parsed: Any, raw: Any, path: str) -> list[str]:
    if isinstance(parsed, BaseModel):
        return undeclared_fields(parsed, raw, f"{path}.")
    if isinstance(parsed, list) and isinstance(raw, list):
        found: list[str] = []
        for i, (item, raw_item) in enumerate(zip(parsed, raw, strict=False)):
            found.extend(_undeclared_inside(item, raw_item, f"{path}[{i}]"))
        return found
    return []


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

    # Unknown fields are ignored (and logged by the gateway, see undeclared_fields).
    model_config = ConfigDict(extra="ignore")
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
    # Local dates (household zone) with no check-in: the gateway does not ask, the cloud sets
    # no deadline (mimamori_rules.schedule.skip_reason).
    holidays: list[date] = Field(default_factory=list, max_length=400)
    # For greetings and the dashboard; not used by the gateway today.
    resident_names: list[str] = Field(default_factory=list, max_length=10)


# --- errors -------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every 4xx from the gateway API has this shape."""

    error: str = Field(description="stable machine code, e.g. invalid_token")
    detail: str = Field(description="one clear sentence for a person")


__all__ = [
    "API_PREFIX",
    "COMMAND_BY_PAYLOAD",
    "DEFAULT_PRIORITY",
    "EARLIEST_EVENT_TIME",
    "HEALTH_INTENTS",
    "KIND_PRIORITY",
    "LATEST_EVENT_AHEAD",
    "MAX_BATCH_EVENTS",
    "PAYLOAD_MODELS",
    "REJECT_REASONS",
    "RETRYABLE_REJECT_REASONS",
    "SCHEMA_VERSION",
    "Activity",
    "ActivitySummary",
    "AnnouncementCommand",
    "AnnouncementEvent",
    "AnnouncementPayload",
    "AnswerSource",
    "BatchResult",
    "CheckinAnswered",
    "CheckinNoResponse",
    "ClockSkew",
    "Command",
    "CommandDone",
    "CommandKind",
    "CommandPayload",
    "DeviceHealth",
    "DeviceStatus",
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
    "ReloadConfigCommand",
    "ReloadConfigPayload",
    "RepromptCommand",
    "RepromptPayload",
    "RequestCallback",
    "RequestTrouble",
    "SafetyCheckAnswered",
    "SafetyCheckCommand",
    "SafetyCheckPayload",
    "Slot",
    "check_wire_safe",
    "command_kind",
    "new_event_id",
    "parse_batch_leniently",
    "parse_command",
    "priority_of",
    "undeclared_fields",
    "utcnow",
]
