"""`install-service --dry-run`: the unit, checked by systemd's own verifier where available."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Gateway, assert_one_sentence_error


def _unit(gw: Gateway) -> str:
    gw.init("https://cloud.example.invalid")
    result = gw.run("install-service", "--dry-run")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_unit_runs_the_gateway_hardened_with_watchdog(gw: Gateway) -> None:
    unit = _unit(gw)
    lines = set(unit.splitlines())
    for expected in (
        "Type=notify",
        "Restart=on-failure",
        "WatchdogSec=60s",
        "User=mimamori",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        f"ReadWritePaths={gw.data_dir}",
    ):
        assert expected in lines, expected
    exec_line = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_line.endswith(f"mimamori-gateway run --config {gw.config.resolve()}")
    groups = next((line for line in lines if line.startswith("SupplementaryGroups=")), "")
    assert "audio" in groups  # Debian always has it; bluetooth only where BlueZ is installed


def test_unit_passes_systemd_analyze_verify(gw: Gateway, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine, so the unit is unverified")
    unit_path = tmp_path / "mimamori-gateway.service"
    unit_path.write_text(_unit(gw))
    result = subprocess.run(
        [analyze, "verify", str(unit_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys; a typo in a directive must still fail this test
    assert "Unknown key" not in result.stderr and "ignoring" not in result.stderr, result.stderr


def test_install_needs_root_and_uninstall_says_when_there_is_nothing(
    gw: Gateway, tmp_path: Path
) -> None:
    gw.init("https://cloud.example.invalid")
    if os.geteuid() != 0:
        result = gw.run("install-service", "--unit-dir", str(tmp_path))
        assert "needs root" in assert_one_sentence_error(result)
    missing = gw.run("uninstall-service", "--unit-dir", str(tmp_path))
    assert "is not installed" in assert_one_sentence_error(missing)
