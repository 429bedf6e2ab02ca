"""Dashboard-only settings (prefix MIMAMORI_), kept apart from the core Settings object."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIMAMORI_", extra="ignore")

    # A shift is about 8 hours: an idle session ends sooner, any session ends after 12 h.
    session_idle_s: int = Field(default=2 * 3600, ge=10)
    session_max_s: int = Field(default=12 * 3600, ge=60)
    # Per account and client address: this many failures within the window block that pair
    # for login_backoff_s, doubling with every further failure up to lockout_s.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=15 * 60, ge=10)
    login_backoff_s: int = Field(default=30, ge=1)
    lockout_s: int = Field(default=15 * 60, ge=10)
    # Per client address, any accounts: slows down password spraying.
    login_max_per_ip: int = Field(default=30, ge=1)
    # None: Secure cookies whenever base_url is https (plain http only for local development).
    cookie_secure: bool | None = None
    min_password_length: int = Field(default=10, ge=8)


@lru_cache
def get_auth_settings() -> AuthSettings:
    return AuthSettings()
