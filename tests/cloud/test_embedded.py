"""The embedded single-process setup: `mimamori-cloud serve --with-worker` on SQLite, real
time, real SMTP: a help request reaches family and office with no separate worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from mimamori_dev.services import free_port, stop_process, wait_for_port
from mimamori_wire import v1

CLI = str(Path(sys.executable).parent / "mimamori-cloud")
ADMIN = {"Authorization": "Bearer embedded-admin"}


def test_serve_with_worker_sends_help_alerts(tmp_path: Path, smtp_sink) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MIMAMORI_DATABASE_URL": f"sqlite:///{tmp_path}/e.db",
        "MIMAMORI_ADMIN_TOKEN": "embedded-admin",
        "MIMAMORI_SECRET_KEY": "k",
        "MIMAMORI_BASE_URL": base,
        "MIMAMORI_SMTP_PORT": str(smtp_sink.port),
    }
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--with-worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)

        def admin(path: str, body: dict | None = None) -> dict:
            r = httpx.post(f"{base}/api/v1/admin{path}", json=body, headers=ADMIN, timeout=10)
            assert r.status_code < 300, r.text
            return r.json()

        muni = admin("/municipalities", {"name": "横浜市"})
        office = admin(
            "/offices",
            {
                "municipality_id": muni["id"],
                "name": "港北郵便局",
                "email": "office@example.jp",
                "phone": "045-000-1111",
            },
        )
        hh = admin("/households", {"office_id": office["id"], "resident_name": "山田 花子"})
        admin(f"/households/{hh['id']}/contacts", {"name": "山田 太郎", "email": "taro@example.jp"})
        code = admin(f"/households/{hh['id']}/enrollment-codes")["code"]
        enrolled = v1.EnrollResponse.model_validate(
            httpx.post(
                f"{base}/api/v1/gateway/enroll",
                json={"enrollment_code": code, "hardware_id": "pi", "software_version": "t"},
            ).json()
        )
        event = v1.Event.create(
            household_id=hh["id"],
            gateway_id=enrolled.gateway_id,
            kind=v1.EventKind.HELP_REQUESTED,
            payload={"source": "button"},
        )
        r = httpx.post(
            f"{base}/api/v1/gateway/events",
            json={"events": [event.to_wire()]},
            headers={"Authorization": f"Bearer {enrolled.token}"},
        )
        assert r.status_code == 200 and r.json()["accepted"] == [event.id]
        mails = smtp_sink.wait_for(2, timeout=30)
        assert sorted(m["To"] for m in mails) == ["office@example.jp", "taro@example.jp"]
        assert all("助けの要請" in m["Subject"] for m in mails)
    finally:
        stop_process(proc)
        log.close()
