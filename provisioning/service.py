"""`install-service` / `uninstall-service`: the systemd unit for `mimamori-gateway run`.

The daemon speaks sd_notify (gateway/sdnotify.py: READY=1 and WATCHDOG=1), so the unit is
Type=notify with a watchdog: a hung loop is restarted, not just a crashed one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import ProvisionError

UNIT_NAME = "mimamori-gateway.service"
UNIT_DIR = Path("/etc/systemd/system")


@dataclass(frozen=True)
class UnitOptions:
    exe: Path
    config: Path
    data_dir: Path
    user: str = "mimamori"
    watchdog_s: int = 60
    groups: tuple[str, ...] = ("audio", "bluetooth")


def gateway_exe() -> Path:
    beside = Path(sys.executable).parent / "mimamori-gateway"  # same virtualenv as we are
    if beside.exists():
        return beside
    found = shutil.which("mimamori-gateway")
    if found is None:
        raise ProvisionError("no_gateway_exe")
    return Path(found)


def existing_groups(wanted: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(present, missing): a SupplementaryGroups= entry that does not exist stops the unit
    from starting at all (status 216/GROUP), so only groups this machine has go in."""
    import grp

    present, missing = [], []
    for name in wanted:
        try:
            grp.getgrnam(name)
            present.append(name)
        except KeyError:
            missing.append(name)
    return tuple(present), tuple(missing)


def render_unit(opts: UnitOptions) -> str:
    config_dir = opts.config.parent
    groups, missing = existing_groups(opts.groups)
    note = f"# Groups not on this machine, left out: {' '.join(missing)}\n" if missing else ""
    group_line = f"SupplementaryGroups={' '.join(groups)}\n" if groups else ""
    return f"""\
# Mimamori home gateway, written by `mimamori-provision install-service`.
{note}[Unit]
Description=Mimamori home gateway (voice check-ins and sensors)
Documentation=https://github.com/mimamori/mimamori
Wants=network-online.target
After=network-online.target bluetooth.target sound.target time-sync.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={opts.exe} run --config {opts.config}
Restart=on-failure
RestartSec=5s
WatchdogSec={opts.watchdog_s}s
TimeoutStartSec=120s
User={opts.user}
Group={opts.user}
{group_line}Environment=PYTHONUNBUFFERED=1
# glibc makes a malloc arena per thread (BLE, MQTT, audio workers); two keep RSS steady.
Environment=MALLOC_ARENA_MAX=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
ReadWritePaths={opts.data_dir}
ReadOnlyPaths={config_dir}

[Install]
WantedBy=multi-user.target
"""


def _run(command: list[str]) -> None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError("systemctl_failed", command=" ".join(command), error=exc) from None
    if out.returncode != 0:
        error = out.stderr.strip() or out.stdout.strip() or f"exit {out.returncode}"
        raise ProvisionError(
            "systemctl_failed", command=" ".join(command), error=error.splitlines()[0]
        )


def ensure_user(user: str, data_dir: Path) -> None:
    """A system user with no login shell; groups audio and bluetooth come from the unit."""
    import pwd

    try:
        pwd.getpwnam(user)
    except KeyError:
        _run(
            [
                "useradd",
                "--system",
                "--home-dir",
                str(data_dir),
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ]
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(data_dir, user, user)
    os.chmod(data_dir, 0o750)


def grant_service_access(user: str, config: Path, token_file: Path | None) -> None:
    """Let the unprivileged service user read what `enroll` (run as root) wrote.

    The config stays owned by root but readable by the user's group (0640); the token belongs
    to the user alone (0600), so nobody else on the box can read it.
    """
    if config.exists():
        shutil.chown(config, "root", user)
        os.chmod(config, 0o640)
    if token_file is not None and token_file.exists():
        shutil.chown(token_file, user, user)
        os.chmod(token_file, 0o600)


def _token_file(config: Path) -> Path | None:
    from gateway.config import ConfigError, load_config

    try:
        return load_config(config).token_file
    except ConfigError:
        return None  # not enrolled yet: enroll later as the same user, or re-run this


def install(opts: UnitOptions, unit_dir: Path = UNIT_DIR, start: bool = True) -> Path:
    if os.geteuid() != 0:
        raise ProvisionError("needs_root")
    ensure_user(opts.user, opts.data_dir)
    grant_service_access(opts.user, opts.config, _token_file(opts.config))
    path = unit_dir / UNIT_NAME
    try:
        path.write_text(render_unit(opts), encoding="utf-8")
    except PermissionError:
        raise ProvisionError("permission", path=path) from None
    if start:
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", "--now", UNIT_NAME])
    return path


def uninstall(unit_dir: Path = UNIT_DIR, stop: bool = True) -> Path:
    path = unit_dir / UNIT_NAME
    if not path.exists():
        raise ProvisionError("service_not_installed", path=path)
    if stop:
        _run(["systemctl", "disable", "--now", UNIT_NAME])
    try:
        path.unlink()
    except PermissionError:
        raise ProvisionError("permission", path=path) from None
    if stop:
        _run(["systemctl", "daemon-reload"])
    return path


def is_active() -> bool:
    """Is the gateway unit running (False where there is no systemd)?"""
    try:
        out = subprocess.run(
            ["systemctl", "is-active", "--quiet", UNIT_NAME], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0
