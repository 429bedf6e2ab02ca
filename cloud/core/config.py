"""Settings from the environment (prefix MIMAMORI_), one object passed to whoever needs it."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Public (it is in the source): anything signed with it can be forged.
DEV_SECRET_KEY = "dev-insecure-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIMAMORI_", extra="ignore")

    database_url: str = "sqlite:///./mimamori.db"
    # Signs family acknowledgement and unsubscribe links. Set a long random value in production.
    secret_key: str = DEV_SECRET_KEY
    # MIMAMORI_DEV=1: a development machine (demo, tests): serve/worker start without a real key.
    dev: bool = False
    admin_token: str | None = None
    base_url: str = "http://127.0.0.1:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    # The sender address (MIMAMORI_SMTP_FROM; set a real, SPF/DKIM-covered address of the
    # operator in production). Each mail's display name is its office's 「〇〇郵便局 見守り
    # サービス」; the name here is used only for mail without an office.
    smtp_from: str = "見守りサービス <noreply@mimamori.invalid>"
    smtp_timeout_s: float = 10.0
    # The LINE Messaging API (cloud/notify/line.py); tests and the demo point it at the local
    # stand-in (mimamori_dev/line_standin.py). Credentials are per office/municipality rows.
    line_api_base: str = "https://api.line.me"
    line_timeout_s: float = 10.0

    ack_link_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    enrollment_code_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # Sent to every gateway in its config (v1.GatewayConfig.heartbeat_interval_s). Heartbeats
    # are ~98 % of the cloud's requests: 300 s instead of the contract's 60 s default is the
    # cheapest capacity lever (docs/scaling.md section 2).
    gateway_heartbeat_interval_s: int = Field(default=300, ge=10, le=3600)
    # A gateway whose last heartbeat is older than this at a deadline counts as offline.
    # Gateways are told to beat at least twice within it (heartbeat_interval_for_gateways):
    # one late beat is never an outage.
    heartbeat_stale_s: int = Field(default=10 * 60, ge=30)
    # Retention (docs/operations.md "Data retention", docs/privacy.md): the worker deletes
    # rows older than these spans, one pass of every rule at most once per retention_every_s.
    # Heartbeat history (the gateway row keeps the latest heartbeat).
    heartbeat_retention_days: int = Field(default=30, ge=1)
    # Gateway events. The dashboard looks back 30 days (household page); 400 days keep a full
    # year plus a month for year-on-year questions and the fiscal-year report. Safety-check
    # answers and announcement receipts are kept with their check / announcement.
    event_retention_days: int = Field(default=400, ge=31)
    # Words the resident spoke (transcripts, trouble-request text) are removed from events
    # older than this; the event itself stays until event_retention_days.
    transcript_retention_days: int = Field(default=90, ge=1)
    # Sent or failed outbox mail (never mail still pending, nor mail of an open incident).
    mail_retention_days: int = Field(default=90, ge=1)
    # Escalation notifications, counted from the resolution of their incident.
    notification_retention_days: int = Field(default=400, ge=31)
    retention_every_s: int = Field(default=15 * 60, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # Threads per API process for gateway heartbeats and batches (cloud/api/lanes.py): enough
    # to keep the database pool busy; past that, threads only fight over the GIL and fill the
    # pool the desk needs. Batches that may carry help or unwell get a lane of their own.
    gateway_threads: int = Field(default=8, ge=1, le=64)
    gateway_urgent_threads: int = Field(default=2, ge=1, le=16)
    # Future occurred_at beyond this is a clock-skewed gateway: rejected per event.
    max_clock_skew_s: int = Field(default=300, ge=0)
    mail_max_attempts: int = Field(default=12, ge=1)
    # A mail is leased to one worker for this long, renewed while it is being sent: a killed
    # worker's mail is taken over by another after at most this (docs/operations.md).
    mail_lease_s: float = Field(default=10.0, ge=1.0, le=300.0)
    # Readiness (GET /readyz) and the desk banner: the watch counts as stopped when a worker
    # loop (detect, escalate, mail) completed no pass for this long.
    watch_stale_s: float = Field(default=120.0, ge=1.0)
    # Dead-man's switch: GET this URL after completed passes (at most every deadman_every_s),
    # so an outside monitor pages the operator when the pings stop. Off when unset.
    deadman_url: str | None = None
    deadman_every_s: float = Field(default=60.0, ge=0.0)
    deadman_timeout_s: float = Field(default=5.0, gt=0.0, le=30.0)
    # Interactive API docs (/docs, /redoc, /openapi.json): off in production, they list the
    # admin paths. Tests and fuzzers switch them on.
    api_docs: bool = False
    # /metrics: Authorization: Bearer <metrics_token>, or open to all with metrics_public.
    metrics_token: str | None = None
    metrics_public: bool = False
    # Bodies of JSON API requests nested deeper than this are refused before parsing.
    max_json_depth: int = Field(default=32, ge=4, le=1000)

    @property
    def heartbeat_interval_for_gateways(self) -> int:
        """The interval put in every gateway's config: the configured one, shortened when
        needed so that two beats fit in heartbeat_stale_s (offline = two missed intervals)."""
        return max(10, min(self.gateway_heartbeat_interval_s, self.heartbeat_stale_s // 2))


def insecure_secret_reason(settings: Settings) -> str | None:
    """Why this secret key must not sign links and CSRF tokens, or None when it is usable."""
    key = settings.secret_key.strip()
    if not key:
        return "MIMAMORI_SECRET_KEY is empty"
    if key == DEV_SECRET_KEY:
        return "MIMAMORI_SECRET_KEY is not set (the built-in development key is public)"
    return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
