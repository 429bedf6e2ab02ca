"""Shared fixtures: real services on loopback, started and stopped by pid.

mosquitto_broker, smtp_sink, postgres_url (tests marked `postgres`), alsa_file_device,
cloud_server (and start_cloud for custom settings). See mimamori_dev/services.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from mimamori_dev.line_standin import LineStandin
from mimamori_dev.services import (
    AlsaFileDevice,
    CloudServer,
    MosquittoBroker,
    PostgresCluster,
    SmtpSink,
    SqliteTemplate,
)

# ALSA reads ~/.asoundrc when PortAudio initialises (on `import sounddevice`), so the file
# device must be the session's HOME before any test module imports sounddevice.
_ALSA_HOME = Path(tempfile.mkdtemp(prefix="mimamori-alsa-"))
_ALSA = AlsaFileDevice(_ALSA_HOME).install()
os.environ["HOME"] = str(_ALSA_HOME)


# Tests check behaviour, never wall-clock time: no per-example deadline (Hypothesis's default
# 200 ms fails a correct property whenever the shared 2-core machine is busy). A test that
# sets its own deadline keeps it.
settings.register_profile("mimamori", deadline=None)
settings.load_profile("mimamori")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"ALSA file device HOME: {_ALSA_HOME}"]


@pytest.fixture
def alsa_file_device() -> Iterator[AlsaFileDevice]:
    _ALSA.reset()
    yield _ALSA
    _ALSA.reset()


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run `make test` (scripts/bootstrap.sh) first")
    broker = MosquittoBroker(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def line_standin() -> Iterator[LineStandin]:
    """A local LINE Messaging API (mimamori_dev/line_standin.py), recording what it gets."""
    standin = LineStandin().start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    if not PostgresCluster.available():
        pytest.fail("PostgreSQL server binaries missing: run `make test` (scripts/bootstrap.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="mimamori-pg-"))
    cluster = PostgresCluster(workdir).start()
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_cluster: PostgresCluster) -> str:
    if request.node.get_closest_marker("postgres") is None:
        pytest.fail("tests using postgres_url must be marked @pytest.mark.postgres")
    return postgres_cluster.create_database()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """`sqlite_template.copy_to(url)`: a new SQLite database already at the schema's head."""
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def start_cloud(
    tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[Callable[..., CloudServer]]:
    """Factory: start_cloud(database_url=None, env={...}, workers=1) -> a running CloudServer.

    Without a database_url: a new SQLite file, a copy of the migrated template (the server's
    own `upgrade_head` at start then finds it at head)."""
    started: list[CloudServer] = []

    def start(
        database_url: str | None = None, env: dict[str, str] | None = None, workers: int = 1
    ) -> CloudServer:
        url = database_url or sqlite_template.copy_to(
            f"sqlite:///{tmp_path}/cloud-{len(started)}.db"
        )
        server = CloudServer(url, tmp_path / "cloud", env=env or {}, workers=workers)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def cloud_server(start_cloud: Callable[..., CloudServer]) -> CloudServer:
    return start_cloud()
