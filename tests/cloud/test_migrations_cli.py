"""Migrations on SQLite and PostgreSQL match the models; the CLI contract other areas use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from cloud.migrations import upgrade_head
from cloud.models import Base

CLI = str(Path(sys.executable).parent / "mimamori-cloud")


def _assert_schema_matches_models(url: str) -> None:
    upgrade_head(url)
    upgrade_head(url)  # idempotent
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("households")}
    engine.dispose()
    assert diff == [], diff
    assert "ix_households_next_deadline" in indexes


def test_migrations_sqlite(tmp_path: Path) -> None:
    _assert_schema_matches_models(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.postgres
def test_migrations_postgresql(postgres_url: str) -> None:
    _assert_schema_matches_models(postgres_url)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def test_cli_contract_in_subprocesses(tmp_path: Path) -> None:
    """The exact commands other areas' tests and the demo run, as real processes."""
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("mimamori-cloud ")
    url = f"sqlite:///{tmp_path}/cli.db"
    db = ["--database-url", url]
    assert _cli("migrate", *db).returncode == 0

    def last_line(*args: str) -> str:
        result = _cli(*args, *db)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    muni = last_line("create-municipality", "--name", "横浜市", "--timezone", "Asia/Tokyo")
    office = last_line(
        "create-office",
        "--municipality",
        muni,
        "--name",
        "港北郵便局",
        "--phone",
        "045-000-1111",
        "--email",
        "o@example.jp",
    )
    household = last_line(
        "create-household",
        "--office",
        office,
        "--name",
        "山田 花子",
        "--kana",
        "やまだ はなこ",
        "--slot",
        "07:30",
        "--slot",
        "12:00",
        "--slot",
        "20:00",
        "--timezone",
        "Asia/Tokyo",
        "--language",
        "ja",
    )
    contact = last_line(
        "add-contact",
        "--household",
        household,
        "--name",
        "山田 一郎",
        "--email",
        "ichiro@example.jp",
        "--relationship",
        "長男",
        "--daily-report",
    )
    code = last_line("issue-code", "--household", household)
    assert len({muni, office, household, contact}) == 4
    assert len(code) == 10 and code.isalnum()


def test_cli_env_url_errors_and_worker_once(tmp_path: Path, monkeypatch) -> None:
    """Same entry point in-process (typer's runner) for the remaining behaviour."""
    from typer.testing import CliRunner

    from cloud.cli import app

    runner = CliRunner()
    url = f"sqlite:///{tmp_path}/cli2.db"
    monkeypatch.setenv("MIMAMORI_DATABASE_URL", url)
    for command in ("--help", "serve --help", "worker --help", "create-household --help"):
        assert runner.invoke(app, command.split()).exit_code == 0
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    made = runner.invoke(app, ["create-municipality", "--name", "川崎市"])
    assert made.exit_code == 0
    muni = made.stdout.strip().splitlines()[-1]
    office = runner.invoke(app, ["create-office", "--municipality", muni, "--name", "x"])
    office_id = office.stdout.strip().splitlines()[-1]
    bad = runner.invoke(app, ["create-household", "--office", "nope", "--name", "x"])
    assert bad.exit_code == 2 and "not found" in bad.stderr
    four = runner.invoke(
        app,
        [
            "create-household",
            "--office",
            office_id,
            "--name",
            "x",
            "--slot",
            "01:00",
            "--slot",
            "02:00",
            "--slot",
            "03:00",
            "--slot",
            "04:00",
        ],
    )
    assert four.exit_code == 2 and "1 to 3 slots" in four.stderr
    zone = runner.invoke(app, ["create-municipality", "--name", "y", "--timezone", "Mars/Base"])
    assert zone.exit_code == 2 and "time zone" in zone.stderr
    refused = runner.invoke(app, ["worker", "--once"])
    assert refused.exit_code == 3 and "MIMAMORI_SECRET_KEY" in refused.stderr
    once = runner.invoke(app, ["worker", "--once", "--dev-insecure-secret"])
    assert once.exit_code == 0 and "deadlines=0" in once.stdout
