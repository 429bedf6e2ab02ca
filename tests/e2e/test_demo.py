"""`make demo` runs `python -m mimamori_dev.demo`: it starts, prints logins, and Ctrl-C stops
every process it started."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_starts_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mimamori_dev.demo", "--dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "Press Ctrl-C" in text, text
        dashboard = re.search(r"Staff dashboard\s+(http://\S+)/", text).group(1)
        mail_page = re.search(r"Mail \(dev only\)\s+(http://\S+)/", text).group(1)
        login = httpx.get(f"{dashboard}/login", timeout=10)
        assert login.status_code == 200 and "ログイン" in login.text
        assert httpx.get(mail_page, timeout=10).status_code == 200
        homes = sorted((tmp_path / "demo" / "homes").glob("home*/gateway.json"))
        assert len(homes) == 4  # the fifth household's gateway is "unplugged" on purpose
        port = int(dashboard.rsplit(":", 1)[1])
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped." in out
    assert not _listening(port)
    # no simulated home, worker or broker started from the demo's directory is left running
    leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", leftovers.stdout
