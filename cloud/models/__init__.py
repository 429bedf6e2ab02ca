"""All models, imported here so Base.metadata is complete for Alembic.

The dashboard adds its own module (e.g. cloud/models/staff.py) and imports it below.
"""

from cloud.models import staff  # noqa: F401  (dashboard tables, cloud/models/staff.py)
from cloud.models.base import Base, JSONType, UTCDateTime, new_id
from cloud.models.events import Checkin, EventRecord
from cloud.models.gateway import Command, EnrollmentCode, Gateway, HeartbeatRecord
from cloud.models.incidents import DailyReportLog, Incident, Notification, OutboxMail
from cloud.models.line import LineChannelConfig, LineLinkCode, LineWebhookEvent
from cloud.models.tenancy import (
    FamilyContact,
    Holiday,
    Household,
    Municipality,
    Pause,
    PostOffice,
    Resident,
    ScheduleSlot,
)
from cloud.models.workers import WorkerPass

__all__ = [
    "Base",
    "Checkin",
    "Command",
    "DailyReportLog",
    "EnrollmentCode",
    "EventRecord",
    "FamilyContact",
    "Gateway",
    "HeartbeatRecord",
    "Holiday",
    "Household",
    "Incident",
    "JSONType",
    "LineChannelConfig",
    "LineLinkCode",
    "LineWebhookEvent",
    "Municipality",
    "Notification",
    "OutboxMail",
    "Pause",
    "PostOffice",
    "Resident",
    "ScheduleSlot",
    "UTCDateTime",
    "WorkerPass",
    "new_id",
]
