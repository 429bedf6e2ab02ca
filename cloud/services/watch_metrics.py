"""Figures read from the database at scrape time (/metrics): they hold for the whole cloud,
not just the process that answers the scrape."""

from __future__ import annotations

import logging
from datetime import timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from cloud.models import OutboxMail
from cloud.services import watch
from cloud.services.ports import CloudContext

log = logging.getLogger("mimamori.metrics")


class WatchCollector(Collector):
    def __init__(self, app: CloudContext) -> None:
        self.app = app

    def collect(self):  # type: ignore[no-untyped-def]
        now = self.app.clock()
        try:
            with self.app.sessions() as session:
                status = watch.watch_status(
                    session, now, timedelta(seconds=self.app.settings.watch_stale_s)
                )
                outbox = dict(
                    session.execute(
                        select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
                    ).all()
                )
        except Exception:
            log.warning("watch figures unavailable", exc_info=True)
            return
        last = GaugeMetricFamily(
            "mimamori_worker_last_pass_timestamp_seconds",
            "Unix time of the newest completed pass of each worker loop, over all workers",
            labels=["loop"],
        )
        for loop, at in status.last_pass.items():
            last.add_metric([loop], at.timestamp() if at else 0.0)
        yield last
        yield GaugeMetricFamily(
            "mimamori_watch_ready",
            "1 when every worker loop completed a pass within watch_stale_s, else 0",
            value=1.0 if status.ready else 0.0,
        )
        mails = GaugeMetricFamily(
            "mimamori_outbox_mails", "Mails in the outbox, by status", labels=["status"]
        )
        for name in ("pending", "sent", "failed"):
            mails.add_metric([name], float(outbox.get(name, 0)))
        yield mails


def watch_registry(app: CloudContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(app))
    return registry
