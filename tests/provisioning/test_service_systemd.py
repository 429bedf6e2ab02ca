"""`mimamori-provision install-service` for real: systemd as PID 1 in a container.

A minimal Debian 12 (tests/provisioning/nspawn.py, cached) boots under systemd-nspawn with
the current source installed as a wheel. Inside, a boot-time script runs the installer's
path as an operator would (init, enroll against a real cloud on this host, install-service)
and records what systemd says; the test reads those records and the cloud's database:
the unit is installed and enabled, the service user reads config and token (nobody else
reads the token), the daemon reports READY=1 (Type=notify is "active" only after it),
it comes back after `systemctl restart` and after the container reboots.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from mimamori_dev.services import CloudServer

from . import nspawn

UNIT = "mimamori-gateway.service"
BOOT_TIMEOUT_S = 240

CHECK = """\
#!/bin/sh
# Runs at boot inside the container (mimamori-check.service); records under /results.
set -u
R=/results
export PATH={venv}/bin:$PATH
echo booted >> $R/booted
wait_active() {{  # Type=notify: "active" only once the daemon sent READY=1
  i=0
  while [ $i -lt 900 ]; do
    state=$(systemctl show -p ActiveState --value {unit})
    [ "$state" = active ] && return 0
    [ "$state" = failed ] && return 1
    sleep 0.1; i=$((i + 1))
  done
  return 1
}}
show() {{
  systemctl show -p ActiveState,SubState,Type,MainPID,User,UnitFileState,Result {unit} > $R/$1
}}
if [ ! -e /var/lib/mimamori-check-first-boot-done ]; then
  mimamori-provision init --no-interactive --cloud {cloud} > $R/init.log 2>&1
  echo $? > $R/init.rc
  mimamori-provision enroll {code} > $R/enroll.log 2>&1
  echo $? > $R/enroll.rc
  mimamori-provision install-service > $R/install.log 2>&1
  echo $? > $R/install.rc
  wait_active; echo $? > $R/started.rc; show started
  cp /etc/systemd/system/{unit} $R/unit
  token=$(python -c "from gateway.config import *; print(load_config(config_path()).token_file)")
  echo "$token" > $R/token_path
  runuser -u mimamori -- cat /etc/mimamori/gateway.toml > /dev/null 2> $R/read_config.err
  echo $? > $R/read_config.rc
  runuser -u mimamori -- cat "$token" > /dev/null 2> $R/read_token.err
  echo $? > $R/read_token.rc
  runuser -u nobody -- cat "$token" > /dev/null 2>&1
  echo $? > $R/nobody_token.rc
  stat -c '%U:%G %a %n' /etc/mimamori/gateway.toml "$token" /var/lib/mimamori > $R/perms
  systemctl restart {unit}
  wait_active; echo $? > $R/restarted.rc; show restarted
  touch /var/lib/mimamori-check-first-boot-done
  journalctl -b -u {unit} --no-pager > $R/journal-1.log 2>&1
  systemctl reboot
else
  wait_active; echo $? > $R/rebooted.rc; show rebooted
  journalctl -b -u {unit} --no-pager > $R/journal-2.log 2>&1
  systemctl poweroff
fi
"""

CHECK_UNIT = """\
[Unit]
Description=Mimamori installer check (test)
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/root/mimamori-check.sh
TimeoutStartSec=200

[Install]
WantedBy=multi-user.target
"""


def _why_not_here() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, overlay mount and systemd-nspawn)"
    for tool in ("systemd-nspawn", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/bootstrap.sh installs it on Debian)"
    return None


def _enrollment_code(cloud: CloudServer) -> tuple[str, str]:
    admin = httpx.Client(
        base_url=f"{cloud.base_url}/api/v1",
        headers={"Authorization": f"Bearer {cloud.full_env()['MIMAMORI_ADMIN_TOKEN']}"},
        timeout=30,
    )
    with admin:
        muni = admin.post("/admin/municipalities", json={"name": "試験市"}).json()
        office = admin.post(
            "/admin/offices", json={"municipality_id": muni["id"], "name": "試験郵便局"}
        ).json()
        household = admin.post(
            "/admin/households",
            json={
                "office_id": office["id"],
                "resident_name": "見守 花子",
                "slots": [{"time": "08:00", "name": "morning"}],
            },
        ).json()
        code = admin.post(f"/admin/households/{household['id']}/enrollment-codes")
        code.raise_for_status()
    return household["id"], code.json()["code"]


def _read(results: Path, name: str) -> str:
    path = results / name
    return path.read_text(encoding="utf-8").strip() if path.exists() else f"<no {name}>"


def _props(results: Path, name: str) -> dict[str, str]:
    text = _read(results, name)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _events(cloud: CloudServer, household_id: str, kind: str) -> int:
    conn = sqlite3.connect(cloud.database_url.removeprefix("sqlite:///"))
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM events WHERE household_id = ? AND kind = ?",
            (household_id, kind),
        ).fetchone()
    finally:
        conn.close()
    return int(count)


@pytest.mark.timeout(900)  # the first run builds the cached root (debootstrap, wheels)
def test_install_service_under_systemd_restart_and_reboot(
    cloud_server: CloudServer, tmp_path: Path
) -> None:
    reason = _why_not_here()
    if reason:
        pytest.skip(f"install-service under systemd-nspawn not run: {reason}")
    began = time.monotonic()
    base = nspawn.base_root()  # cached; the first build takes a few minutes
    built_s = time.monotonic() - began
    wheel = nspawn.project_wheel(tmp_path / "wheel")
    household_id, code = _enrollment_code(cloud_server)
    results = tmp_path / "results"
    results.mkdir()
    with nspawn.overlay(base, tmp_path / "overlay") as root:
        dist = root / "opt" / "dist"  # not /tmp: a tmpfs in the container
        dist.mkdir(parents=True)
        shutil.copy2(wheel, dist / wheel.name)
        nspawn._run(
            [
                *nspawn.NSPAWN,
                "-D",
                root,
                f"{nspawn.VENV}/bin/pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                f"/opt/dist/{wheel.name}",
            ],
            timeout=300,
            what="installing the mimamori wheel in the container",
        )
        script = root / "root" / "mimamori-check.sh"
        script.write_text(
            CHECK.format(venv=nspawn.VENV, unit=UNIT, cloud=cloud_server.base_url, code=code)
        )
        script.chmod(0o755)
        (root / "etc/systemd/system/mimamori-check.service").write_text(CHECK_UNIT)
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "mimamori-check.service").symlink_to("/etc/systemd/system/mimamori-check.service")

        first = nspawn.boot(root, {results: "/results"}, BOOT_TIMEOUT_S)
        if not (results / "booted").exists():
            pytest.skip(
                "systemd-nspawn could not boot a container here "
                f"(exit {first.returncode}): {(first.stderr or first.stdout).strip()[-800:]}"
            )
        journal = _read(results, "journal-1.log")
        assert _read(results, "init.rc") == "0", _read(results, "init.log")
        assert _read(results, "enroll.rc") == "0", _read(results, "enroll.log")
        assert _read(results, "install.rc") == "0", _read(results, "install.log")
        unit = _read(results, "unit")
        assert "Type=notify" in unit and "User=mimamori" in unit
        assert f"ExecStart={nspawn.VENV}/bin/mimamori-gateway run" in unit

        started = _props(results, "started")
        assert _read(results, "started.rc") == "0", (started, journal)
        assert started["ActiveState"] == "active" and started["SubState"] == "running"
        assert (started["Type"], started["User"]) == ("notify", "mimamori")
        assert started["UnitFileState"] == "enabled"

        assert _read(results, "read_config.rc") == "0", _read(results, "read_config.err")
        assert _read(results, "read_token.rc") == "0", _read(results, "read_token.err")
        assert _read(results, "nobody_token.rc") != "0"  # the token is the service's alone
        perms = _read(results, "perms").splitlines()
        assert perms[0].startswith("root:mimamori 640 ") and perms[1].startswith(
            "mimamori:mimamori 600 "
        ), perms

        restarted = _props(results, "restarted")
        assert _read(results, "restarted.rc") == "0", (restarted, journal)
        assert restarted["ActiveState"] == "active"
        assert restarted["MainPID"] != started["MainPID"]  # a new process, ready again

        second = nspawn.boot(root, {results: "/results"}, BOOT_TIMEOUT_S)
        rebooted = _props(results, "rebooted")
        assert _read(results, "rebooted.rc") == "0", (
            rebooted,
            _read(results, "journal-2.log"),
            second.stderr[-800:],
        )
        assert rebooted["ActiveState"] == "active" and rebooted["SubState"] == "running"
        assert _read(results, "booted").splitlines() == ["booted", "booted"]

    # The daemon really ran each time: the cloud received a gateway.started per start.
    assert _events(cloud_server, household_id, "gateway.started") >= 3
    print(
        textwrap.dedent(f"""
        install-service under systemd-nspawn: base root {built_s:.0f} s (cached at
        {nspawn.CACHE}), whole test {time.monotonic() - began:.0f} s""")
    )
