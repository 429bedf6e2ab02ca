"""Hardening (issue 13, finding 8): secret key at start-up, security headers, docs and
metrics gated, body limits and auth before the body, bounded query parameters. What reaches
the database runs on SQLite and PostgreSQL (`cloud`); what is refused before any route runs
on SQLite only (`live_cloud`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.api.hardening import json_depth

CLI = str(Path(sys.executable).parent / "mimamori-cloud")
ADMIN = "/api/v1/admin"
DEEP = b"[" * 20_000 + b"]" * 20_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cloud(request: pytest.FixtureRequest, live_cloud_factory):  # type: ignore[no-untyped-def]
    if request.param == "postgres":
        return live_cloud_factory(request.getfixturevalue("postgres_url"))
    return live_cloud_factory()


def _env_without_secret(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env["MIMAMORI_DATABASE_URL"] = f"sqlite:///{tmp_path}/refuse.db"
    env.update(extra)
    return env


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    """The real process: exit code 3 and a clear message, before touching the database."""
    result = subprocess.run(
        [CLI, "serve", "--port", "9"],
        env=_env_without_secret(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "MIMAMORI_SECRET_KEY を長いランダムな値に設定してください" in result.stderr
    assert "--dev-insecure-secret" in result.stderr
    assert not (tmp_path / "refuse.db").exists()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`mimamori-cloud` in-process (typer's runner), with no MIMAMORI_ setting but the URL."""
    from typer.testing import CliRunner

    from cloud.cli import app

    for name in [k for k in os.environ if k.startswith("MIMAMORI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MIMAMORI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    return lambda *args, **env: runner.invoke(app, list(args), env=env or None)


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["worker", "--once"]])
@pytest.mark.parametrize("secret", [None, "", "  ", "dev-insecure-change-me"])
def test_serve_and_worker_refuse_a_public_secret_key(
    cli, tmp_path: Path, command: list[str], secret: str | None
) -> None:  # type: ignore[no-untyped-def]
    env = {} if secret is None else {"MIMAMORI_SECRET_KEY": secret}
    result = cli(*command, **env)
    assert result.exit_code == 3, result.output
    assert "MIMAMORI_SECRET_KEY" in result.stderr and "MIMAMORI_DEV=1" in result.stderr
    assert not (tmp_path / "cli.db").exists()


def test_worker_starts_with_the_explicit_dev_flag(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("migrate").exit_code == 0
    by_env = cli("worker", "--once", MIMAMORI_DEV="1")
    assert by_env.exit_code == 0, by_env.output
    assert "development mode" in by_env.stderr
    by_flag = cli("worker", "--once", "--dev-insecure-secret")
    assert by_flag.exit_code == 0 and "deadlines=" in by_flag.stdout
    real_key = cli("worker", "--once", MIMAMORI_SECRET_KEY="x" * 40)
    assert real_key.exit_code == 0 and "development mode" not in real_key.stderr


def test_security_headers_on_every_response(live_cloud) -> None:  # type: ignore[no-untyped-def]
    for path in ("/login", "/", "/healthz", "/no-such-page", "/static/app.js", f"{ADMIN}/x"):
        r = httpx.get(f"{live_cloud.base_url}{path}")
        headers = r.headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_docs_and_metrics_are_closed_by_default(live_cloud) -> None:  # type: ignore[no-untyped-def]
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{live_cloud.base_url}{path}").status_code == 404, path
    r = httpx.get(f"{live_cloud.base_url}/metrics")
    assert r.status_code == 401 and r.json()["error"] == "metrics_token_required"
    assert httpx.get(f"{live_cloud.base_url}/healthz").status_code == 200


def test_metrics_token_and_docs_switch(live_cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = live_cloud_factory(metrics_token="scrape-me", api_docs=True)
    url = f"{cloud.base_url}/metrics"
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = httpx.get(url, headers={"Authorization": "Bearer scrape-me"})
    assert r.status_code == 200 and "mimamori_rejected_total" in r.text
    schema = httpx.get(f"{cloud.base_url}/openapi.json").json()
    assert f"{ADMIN}/households" in schema["paths"]
    assert httpx.get(f"{cloud.base_url}/docs").status_code == 200


@pytest.mark.parametrize(
    "path",
    [f"{ADMIN}/households", "/api/v1/gateway/events", "/api/v1/gateway/heartbeat"],
)
def test_deep_json_without_a_token_is_refused_before_parsing(live_cloud, path: str) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{live_cloud.base_url}{path}", content=DEEP, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] in {"invalid_admin_token", "missing_token"}


def test_deep_json_with_a_token_or_before_enrolment_is_422(live_cloud) -> None:  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    r = live_cloud.admin("POST", "/households", content=DEEP)
    assert r.status_code == 422 and r.json()["error"] == "body_too_deep"
    r = httpx.post(f"{live_cloud.base_url}/api/v1/gateway/enroll", content=DEEP, headers=headers)
    assert r.status_code == 422 and r.json()["error"] == "body_too_deep"
    r = httpx.post(
        f"{live_cloud.base_url}/api/v1/gateway/events",
        content=DEEP,
        headers={**headers, "Authorization": "Bearer not-a-real-token"},
    )
    assert r.status_code == 422 and r.json()["error"] == "body_too_deep"
    # Ordinary nesting still passes the check.
    hh = live_cloud.household()
    assert hh["residents"][0]["name"] == "山田 花子"


def test_oversize_bodies_are_413_declared_or_streamed(live_cloud) -> None:  # type: ignore[no-untyped-def]
    big = b'{"name": "' + b"x" * 300_000 + b'"}'
    r = live_cloud.admin("POST", "/municipalities", content=big)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 10_000

    r = live_cloud.admin("POST", "/municipalities", content=chunks())
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    r = httpx.post(f"{live_cloud.base_url}/login", content=chunks())
    assert r.status_code == 413


@pytest.mark.parametrize(
    "query",
    [
        "/households?limit=-99999999999999999999",
        "/households?limit=0",
        "/households?limit=99999999999999999999",
        "/incidents?limit=-1",
        "/mail?limit=-5",
        "/mail?status=" + "x" * 5000,
        "/incidents?state=" + "x" * 5000,
        "/households?office_id=" + "x" * 5000,
    ],
)
def test_query_parameters_are_bounded(cloud, query: str) -> None:  # type: ignore[no-untyped-def]
    r = cloud.admin("GET", query)
    assert r.status_code == 422, r.text


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(alphabet='[]{}"\\a'), children, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_json_depth_matches_the_parsed_structure(value) -> None:  # type: ignore[no-untyped-def]
    import json

    def depth(v) -> int:  # type: ignore[no-untyped-def]
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    assert json_depth(json.dumps(value).encode()) == depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == depth(value)


@pytest.mark.parametrize(
    "path",
    [
        f"{ADMIN}/households?office_id=%00",
        f"{ADMIN}/households/%00",
        f"{ADMIN}/incidents?state=a%0Ab",
        "/board?office=%00",
        "/login?next=%0D%0ALocation:%20x",
    ],
)
def test_control_characters_in_urls_are_refused(cloud, path: str) -> None:  # type: ignore[no-untyped-def]
    """Found by the admin fuzz: a NUL in a path or query parameter reached PostgreSQL (500)."""
    r = httpx.get(f"{cloud.base_url}{path}", headers={"Authorization": "Bearer test-admin-token"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_url", r.text
