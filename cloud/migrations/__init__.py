"""Alembic migrations, run programmatically (no alembic.ini needed): `mimamori-cloud migrate`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cloud.db import normalise_url

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
