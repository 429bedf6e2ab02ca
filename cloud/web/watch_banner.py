"""What every signed-in staff member must see at once: the watch has stopped (no worker pass
within settings.watch_stale_s), and on the desk, alert mails that could not be delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from cloud.api.deps import state
from cloud.models import Household, Incident, OutboxMail
from cloud.models.incidents import unresolved
from cloud.notify.base import EMAIL, LINE
from cloud.services import watch
from cloud.web.deps import Ctx


@dataclass(frozen=True)
class WatchNotices:
    stopped: bool = False
    stalled_loops: tuple[str, ...] = ()
    failed_mails: int = 0  # failed mails of unresolved incidents in the user's scope


def watch_notices(ctx: Ctx) -> WatchNotices:
    if ctx.user is None:
        return WatchNotices()
    stale = timedelta(seconds=state(ctx.request).settings.watch_stale_s)
    status = watch.watch_status(ctx.db, ctx.now, stale)
    # A LINE alert that failed but was replaced by an e-mail to the same person in the same
    # step reached them: not a reason to call (if that e-mail fails, it counts itself).
    # One NOT EXISTS with the LINE test inside it, so PostgreSQL plans an anti-join probing
    # the incident's mails; `channel != line OR NOT EXISTS` was planned as a hashed subplan
    # that read the whole outbox on every staff page once one LINE alert had failed.
    fallback = aliased(OutboxMail)
    replaced = (
        select(fallback.id)
        .where(
            OutboxMail.channel == LINE,
            fallback.incident_id == OutboxMail.incident_id,
            fallback.step == OutboxMail.step,
            fallback.contact_id == OutboxMail.contact_id,
            fallback.channel == EMAIL,
            fallback.kind.like("%.line_fallback"),
        )
        .exists()
    )
    failed = ctx.db.scalar(
        select(func.count(OutboxMail.id))
        .join(Incident, Incident.id == OutboxMail.incident_id)
        .join(Household, Household.id == Incident.household_id)
        .where(
            OutboxMail.status == "failed",
            unresolved(),  # the partial index's predicate, also in a generic plan
            ctx.scope.household_filter(),
            ~replaced,
        )
    )
    return WatchNotices(not status.ready, tuple(status.stalled_loops), int(failed or 0))
