"""Settings from the environment (prefix MIMAMORI_), one object passed to whoever needs it."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIMAMORI_", extra="ignore")

    database_url: str = "sqlite:///./mimamori.db"
    # Signs family acknowledgement and unsubscribe links. Set a long random value in production.
    secret_key: str = "dev-insecure-change-me"
    admin_token: str | None = None
    base_url: str = "http://127.0.0.1:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "見守りサービス <noreply@mimamori.invalid>"
    smtp_timeout_s: float = 10.0

    ack_link_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    enrollment_code_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # A gateway whose last heartbeat is older than this at a deadline counts as offline.
    heartbeat_stale_s: int = Field(default=10 * 60, ge=30)
    # Heartbeat history older than this is deleted by the worker (the gateway row keeps the
    # latest heartbeat); the pruning pass runs at most once per heartbeat_prune_every_s.
    heartbeat_retention_days: int = Field(default=30, ge=1)
    heartbeat_prune_every_s: int = Field(default=15 * 60, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # Future occurred_at beyond this is a clock-skewed gateway: rejected per event.
    max_clock_skew_s: int = Field(default=300, ge=0)
    mail_max_attempts: int = Field(default=12, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
