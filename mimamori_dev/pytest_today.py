"""pytest plugin: `--today=ISO` runs the tests as if the wall clock said that instant.

`make test-dates` loads it (`-p mimamori_dev.pytest_today`) to run the time-sensitive tests on a
Sunday, a month end, New Year's Eve and a leap day, so a test (or code) that reads the real date
where it should use the injected clock fails here and not on some later day in CI. The clock
keeps ticking from that instant (time-machine, tick=True); a test's own travel nests inside it.
Only this process travels: servers started as subprocesses keep the real date.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

_KEY = pytest.StashKey[time_machine.travel]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--today",
        metavar="ISO",
        help="pretend the wall clock reads this aware ISO datetime (time-machine, ticking)",
    )


def pytest_configure(config: pytest.Config) -> None:
    raw = config.getoption("--today")
    if not raw:
        return
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        raise pytest.UsageError(f"--today needs a time zone offset: {raw!r}")
    traveller = time_machine.travel(instant, tick=True)
    traveller.start()
    config.stash[_KEY] = traveller


def pytest_report_header(config: pytest.Config) -> str | None:
    raw = config.getoption("--today")
    return (
        f"pinned today: {raw} (wall clock now {datetime.now().astimezone().isoformat()})"
        if raw
        else None
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_KEY, None)
    if traveller is not None:
        traveller.stop()
