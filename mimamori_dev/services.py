"""Real local services for tests, benchmarks and the demo.

Each launcher starts the real program (mosquitto, PostgreSQL, uvicorn, an aiosmtpd server) on
a free loopback port with its own config in a temporary directory, and stops it by its pid.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import httpx

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it will not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# --- mosquitto -----------------------------------------------------------------------------


@dataclass
class MosquittoBroker:
    """A real mosquitto on a loopback port; `max_queued_messages 0` so slow clients lose nothing."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
        )

    def start(self) -> MosquittoBroker:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.write_config()
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# --- SMTP ----------------------------------------------------------------------------------


class _CollectingHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.received(msg, envelope.rcpt_tos)
        return "250 OK"


@dataclass
class SmtpSink:
    """A real aiosmtpd SMTP server that keeps every message it receives (optionally on disk)."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    maildir: Path | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)  # time.time() of each message
    _controller: object | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def received(self, msg: EmailMessage, rcpt_tos: list[str]) -> None:
        with self._cond:
            self.messages.append(msg)
            self.arrived_at.append(time.time())
            if self.maildir is not None:
                self.maildir.mkdir(parents=True, exist_ok=True)
                name = f"{time.time_ns()}-{len(self.messages):05d}.eml"
                (self.maildir / name).write_bytes(msg.as_bytes())
            self._cond.notify_all()

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        controller = Controller(_CollectingHandler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} mails after {timeout} s")
                self._cond.wait(left)
            return list(self.messages)


# --- PostgreSQL ----------------------------------------------------------------------------


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PostgresCluster:
    """A throwaway cluster made with initdb in a temp dir and run by pg_ctl on a free port."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    _counter: int = 0

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists()

    def start(self) -> PostgresCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        opts = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=on -c max_connections=200 "
            "-c shared_buffers=256MB"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-o",
                    opts,
                    "-l",
                    str(self.workdir / "pg.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> None:
        if self.datadir.exists():
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]
                ),
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        self._counter += 1
        name = name or f"t{os.getpid()}_{self._counter}"
        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


# --- a migrated SQLite database, made once -----------------------------------------------


@dataclass
class SqliteTemplate:
    """A SQLite file migrated to the schema's head once, copied for each new database.

    Running the migrations costs ~1 s a database (a dozen revisions, each committed to disk);
    a copy of the result is the same schema in milliseconds. The migrations themselves still
    run from empty where a test is about them (tests/cloud/test_migrations_cli.py), and on
    every PostgreSQL database.
    """

    workdir: Path
    _migrated: bool = False

    @property
    def path(self) -> Path:
        return self.workdir / "template.db"

    def copy_to(self, database_url: str) -> str:
        """Make the (new) SQLite file of `database_url` a copy of the template; return the url."""
        import sqlite3

        from cloud.migrations import upgrade_head

        if not self._migrated:
            self.workdir.mkdir(parents=True, exist_ok=True)
            upgrade_head(f"sqlite:///{self.path}")
            self._migrated = True
        target = Path(database_url.removeprefix("sqlite:///"))
        if target.exists():
            raise FileExistsError(f"{target} exists: a template copy must be a new database")
        # The backup API copies a consistent snapshot whatever journal the template is in.
        with (
            contextlib.closing(sqlite3.connect(self.path)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
        return database_url


# --- the cloud under uvicorn ---------------------------------------------------------------


@dataclass
class CloudServer:
    """`mimamori-cloud serve` in a subprocess on a free port."""

    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    workers: int = 1
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def full_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("MIMAMORI_SECRET_KEY", "test-secret-key-not-for-production")
        env.setdefault("MIMAMORI_ADMIN_TOKEN", "test-admin-token")
        # Test and demo clouds: API docs (fuzzers read the schema) and /metrics are open.
        env.setdefault("MIMAMORI_API_DOCS", "1")
        env.setdefault("MIMAMORI_METRICS_PUBLIC", "1")
        env.update(self.env)
        env["MIMAMORI_DATABASE_URL"] = self.database_url
        env.setdefault("MIMAMORI_BASE_URL", self.base_url)
        return env

    def cli(self, *args: str, check: bool = True) -> str:
        """Run `mimamori-cloud ARGS` against this server's database; return stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "mimamori-cloud"), *args],
            env=self.full_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"mimamori-cloud {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def cli_id(self, *args: str) -> str:
        """Run a create-* command and return the id it prints on its last line."""
        return self.cli(*args).strip().splitlines()[-1].strip()

    def start(self, timeout: float = 30.0) -> CloudServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"cloud-{self.port}.log", "ab")  # noqa: SIM115 (lives with proc)
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "mimamori-cloud"),
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.full_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cloud exited early; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise TimeoutError(f"cloud not healthy after {timeout} s; see {log.name}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # uvicorn with --workers forks; signal the whole session.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


# --- audio without a sound card ------------------------------------------------------------


@dataclass
class AlsaFileDevice:
    """The ALSA `file` plugin as the default PCM: capture reads in.raw, playback writes out.raw.

    ALSA reads ~/.asoundrc when PortAudio initialises, so HOME must point here before
    sounddevice is imported (tests do it at session start) or in a child's environment.
    """

    home: Path

    @property
    def input_path(self) -> Path:
        return self.home / "in.raw"

    @property
    def output_path(self) -> Path:
        return self.home / "out.raw"

    def install(self) -> AlsaFileDevice:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".asoundrc").write_text(
            'pcm.!default {\n  type file\n  slave.pcm "null"\n'
            f'  file "{self.output_path}"\n  infile "{self.input_path}"\n  format "raw"\n}}\n'
        )
        self.input_path.write_bytes(b"")
        return self

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home)}

    def write_input(self, pcm: bytes) -> None:
        """16 kHz mono int16 little-endian samples the next capture stream will read."""
        self.input_path.write_bytes(pcm)

    def read_output(self) -> bytes:
        return self.output_path.read_bytes() if self.output_path.exists() else b""

    def reset(self) -> None:
        self.input_path.write_bytes(b"")
        self.output_path.unlink(missing_ok=True)


@contextlib.contextmanager
def running(service) -> Iterator:
    service.start()
    try:
        yield service
    finally:
        service.stop()
