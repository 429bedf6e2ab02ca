"""Fixtures for the installer's CLI: every command runs as a real `mimamori-provision` process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mimamori_dev.services import CloudServer

EXE = Path(sys.executable).parent / "mimamori-provision"


@dataclass
class Gateway:
    """A gateway's files in a temp dir, and a runner for the CLI against them."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "etc" / "gateway.toml"

    @property
    def token_file(self) -> Path:
        return self.root / "etc" / "token"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def env(self, lang: str = "C.UTF-8", **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
            env.pop(var, None)
        env.update(
            LANG=lang,
            MIMAMORI_GATEWAY_CONFIG=str(self.config),
            COLUMNS="200",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        lang: str = "C.UTF-8",
        timeout: float = 120,
        **extra_env: str,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EXE), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env(lang, **extra_env),
            timeout=timeout,
        )

    def init(self, cloud_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        result = self.run(
            "init",
            "--no-interactive",
            "--cloud",
            cloud_url,
            "--data-dir",
            str(self.data_dir),
            "--token-file",
            str(self.token_file),
            *extra,
        )
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def gw(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path / "gw")


@pytest.fixture(scope="session")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudServer]:
    """One real cloud for this area's tests (starting one costs seconds; each test gets its own
    household and code, so tests stay independent)."""
    workdir = tmp_path_factory.mktemp("cloud")
    server = CloudServer(f"sqlite:///{workdir}/cloud.db", workdir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def household_code(shared_cloud: CloudServer) -> Callable[[], str]:
    """Factory: a fresh enrollment code for a new household on the shared cloud."""
    cloud_server = shared_cloud
    muni = cloud_server.cli_id("create-municipality", "--name", "見守り市")
    office = cloud_server.cli_id("create-office", "--municipality", muni, "--name", "本町郵便局")

    def make() -> str:
        household = cloud_server.cli_id(
            "create-household", "--office", office, "--name", "山田花子", "--slot", "08:00"
        )
        return cloud_server.cli_id("issue-code", "--household", household)

    return make


def assert_one_sentence_error(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, no traceback, and a single error line on stderr."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]
