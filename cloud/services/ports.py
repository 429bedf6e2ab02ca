"""What services need from the layers above them, as Protocols: services call these, the
escalation layer and the app implement them, and services never import either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.models import Household, Incident


class FollowUps(Protocol):
    """Tells everyone alerted about an incident that it settled itself
    (cloud.escalation.steps.Notifier)."""

    def answered_late(
        self,
        session: Session,
        household: Household,
        incident: Incident,
        answer: dict[str, Any],
        now: datetime,
    ) -> None: ...

    def gateway_back(
        self, session: Session, household: Household, incident: Incident, now: datetime
    ) -> None: ...


class CloudContext(Protocol):
    """The clock, sessions and settings of the running cloud (cloud.api.deps.AppState)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def clock(self) -> Clock: ...
