"""The cloud link: uplink of the outbox, heartbeats (which carry commands) and the config.

Works with no network at all: the last config is cached in the small state and used
offline; every failure is counted and retried, never raised into a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.clock_watch import ClockWatch
from gateway.cloud_client import CloudClient, CloudError
from gateway.commands import CommandHandler
from gateway.config import GatewaySettings, read_token
from gateway.logging_setup import log_event
from gateway.outbox import Outbox
from gateway.ports import Home
from gateway.uplink import Backoff, Uploader
from mimamori_wire.v1 import EventKind, GatewayConfig, Heartbeat

log = logging.getLogger(__name__)


def default_config(settings: GatewaySettings) -> GatewayConfig:
    """Before the first cloud config arrives: no slots, the provisioned zone and language."""
    return GatewayConfig(
        household_id=settings.household_id,
        config_version=0,
        timezone=settings.timezone,
        language=settings.language,
        tts_speed=settings.tts_speed,
        tts_volume=settings.tts_volume,
    )


class CloudLink:
    def __init__(
        self,
        home: Home,
        clock: ClockWatch,
        commands: CommandHandler,
        heartbeat_body: Callable[[], Heartbeat],
        on_config: Callable[[GatewayConfig], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        client: CloudClient | None = None,
    ) -> None:
        self.home = home
        self.clock = clock
        self.commands = commands
        self.heartbeat_body = heartbeat_body
        self.on_config = on_config
        self.spawn = spawn
        self.client = client
        self.uploader: Uploader | None = None
        self.config = default_config(home.settings)
        self.last_heartbeat_at: str | None = None

    def load_cached_config(self) -> None:
        cached = self.home.state.get("cloud_config")
        if not cached:
            return
        try:
            self.config = GatewayConfig.model_validate(cached)
        except ValueError as exc:
            self.home.counters["bad_cached_config"] += 1
            self.home.state.update(config_etag=None)  # so the cloud sends it again, not a 304
            log_event(log, "config.cache_unusable", logging.ERROR, error=str(exc)[:300])

    def connect(self, outbox: Outbox) -> Uploader:
        settings = self.home.settings
        if self.client is None:
            token = read_token(settings.token_file)
            self.client = CloudClient(
                settings.cloud_url, token, settings.ca_bundle, on_date=self.on_date
            )
        self.uploader = Uploader(
            outbox,
            self.client,
            batch_size=settings.upload_batch_size,
            backoff=Backoff(max_s=settings.max_backoff_s),
            now=self.home.now,
        )
        return self.uploader

    def on_date(self, header: str | None) -> None:
        """Every cloud response's Date header: a clock off by more than the threshold is
        reported (as a task: this runs inside the HTTP client's response hook)."""
        skew = self.clock.skew_from_cloud(header)
        if skew is not None:
            self.spawn(self.home.emit(EventKind.GATEWAY_CLOCK_SKEW, skew))

    async def heartbeat_once(self) -> bool:
        assert self.client is not None
        try:
            response, bad = await self.client.heartbeat(self.heartbeat_body())
        except CloudError as exc:
            self.home.counters["heartbeat_failures"] += 1
            log_event(
                log,
                "heartbeat.failed",
                logging.WARNING,
                status=exc.status,
                error=str(exc)[:300],
                failures=self.home.counters["heartbeat_failures"],
            )
            return False
        self.last_heartbeat_at = self.home.now().isoformat()
        for raw in bad:
            await self.commands.refuse(raw)
        if response.config_version != self.config.config_version:
            await self.refresh_config()
        for cmd in response.commands:
            self.commands.submit(cmd)
        return True

    async def refresh_config(self) -> bool:
        assert self.client is not None
        try:
            cfg, etag = await self.client.get_config(self.home.state.get("config_etag"))
        except CloudError as exc:
            self.home.counters["config_failures"] += 1
            log_event(
                log, "config.fetch_failed", logging.WARNING, status=exc.status, error=str(exc)[:300]
            )
            return False
        if cfg is not None:
            self.config = cfg
            self.home.state.update(cloud_config=cfg.model_dump(mode="json"), config_etag=etag)
            log_event(
                log,
                "config.applied",
                config_version=cfg.config_version,
                slots=[s.name for s in cfg.slots],
                timezone=cfg.timezone,
            )
            self.on_config(cfg)
        return True

    async def heartbeat_loop(self) -> None:
        await self.refresh_config()
        while True:
            await self.heartbeat_once()
            interval = self.home.settings.heartbeat_interval_s or self.config.heartbeat_interval_s
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
