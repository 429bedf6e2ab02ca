"""届かなかったお知らせ: deliveries of cases that failed for good, per channel (e-mail, LINE),
in the user's scope. Linked from the desk's failed-delivery notice and the monthly report."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cloud.auth.roles import Capability
from cloud.notify.base import CHANNELS
from cloud.web import deliveries
from cloud.web.deps import Ctx, needs
from cloud.web.render import page

router = APIRouter()


@router.get("/deliveries/failed")
def failed_deliveries(ctx: Ctx = needs(Capability.DESK)) -> Response:
    wanted = ctx.request.query_params.get("channel", "")
    channel = wanted if wanted in CHANNELS else None
    in_scope = ctx.scope.household_filter()
    return page(
        ctx,
        "failed_deliveries.html",
        active="desk",
        channel=channel,
        channels=CHANNELS,
        counts=deliveries.failed_counts(ctx.db, in_scope, ctx.now),
        items=deliveries.failed_deliveries(ctx.db, in_scope, ctx.now, channel),
    )
