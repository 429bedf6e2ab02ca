"""Clock trust: a Pi has no battery clock and boots with a stale time until NTP syncs.

Three independent signals, each reported as `gateway.clock_skew` (never acted on silently):
- kernel: adjtimex(2) says TIME_ERROR (clock not synchronised) — or `timedatectl show`;
- cloud_date: the cloud's HTTP Date header differs from our clock by more than a threshold;
- jump: wall-clock time moved differently from the monotonic clock between two looks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

TIME_ERROR = 5  # adjtimex return value: clock not synchronised
SKEW_THRESHOLD_S = 30.0  # cloud Date has 1 s resolution plus network delay
JUMP_THRESHOLD_S = 60.0


def kernel_clock_synchronized() -> bool | None:
    """True/False from adjtimex(2) (read-only: modes = 0), or timedatectl; None if unknown."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes=0 at offset 0
        state = libc.adjtimex(buf)
        if state >= 0:
            return state != TIME_ERROR
    except (OSError, AttributeError):
        pass
    return _timedatectl_synchronized()


def _timedatectl_synchronized() -> bool | None:
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"yes": True, "no": False}.get(out)


def skew_from_date_header(date_header: str | None, local_now: datetime) -> float | None:
    """Seconds our clock is ahead (+) or behind (-) the cloud's, or None if unusable."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    return (local_now - server).total_seconds()


@dataclass
class JumpDetector:
    """Compare wall-clock progress with monotonic progress between two observations."""

    threshold_s: float = JUMP_THRESHOLD_S
    _wall: float | None = None
    _mono: float | None = None

    def observe(self, wall: float | None = None, mono: float | None = None) -> float | None:
        """Return the jump in seconds (+ forward) if larger than the threshold, else None."""
        wall = time.time() if wall is None else wall
        mono = time.monotonic() if mono is None else mono
        jump = None
        if self._wall is not None and self._mono is not None:
            delta = (wall - self._wall) - (mono - self._mono)
            if abs(delta) >= self.threshold_s:
                jump = delta
        self._wall, self._mono = wall, mono
        return jump
