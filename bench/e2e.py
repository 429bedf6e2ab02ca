"""End-to-end benchmark: a help request created on a simulated gateway to the family's mail
delivered at a real SMTP server.

Real processes: `mimamori-cloud serve` on SQLite, `mimamori-cloud worker --interval 0.2`,
an aiosmtpd sink (mimamori_dev.services). Each run uses its own household (one open help
incident per household is the rule), so runs never wait on each other's incidents.
The clock starts when the gateway creates the event and stops when the mail addressed to the
family contact has been received by the SMTP server. A second family member of each
household is linked to LINE (through the signed webhook and a one-time code); for them the
clock stops when the push reaches the local LINE API stand-in (mimamori_dev/line_standin.py).

Last line: {"bench": "e2e", "help_to_mail_p50_s": ..., "help_to_mail_p95_s": ...,
"help_to_line_p50_s": ..., "help_to_line_p95_s": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mimamori_dev.line_standin import LineStandin, line_user_id, link_contact, setup_channel
from mimamori_dev.scenario import Admin, enroll, family_email, seed_area, seed_household
from mimamori_dev.services import VENV_BIN, CloudServer, SmtpSink, stop_process
from mimamori_wire import v1

ADMIN_TOKEN = "bench-admin-token"


def wait_for_mail_to(sink: SmtpSink, address: str, since: int, timeout: float = 30.0) -> None:
    """Block until a message to `address` is among those received after the first `since`."""
    deadline = time.monotonic() + timeout
    count = since
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no mail to {address} within {timeout} s")
        messages = sink.wait_for(count + 1, timeout=left)
        if any(m["To"] == address for m in messages[since:]):
            return
        count = len(messages)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


def run(runs: int, workdir: Path) -> tuple[list[float], list[float]]:
    sink = SmtpSink().start()
    line = LineStandin().start()
    env = {
        "MIMAMORI_LINE_API_BASE": line.base_url,
        "MIMAMORI_ADMIN_TOKEN": ADMIN_TOKEN,
        "MIMAMORI_SMTP_HOST": sink.host,
        "MIMAMORI_SMTP_PORT": str(sink.port),
    }
    server = CloudServer(f"sqlite:///{workdir}/e2e.db", workdir / "cloud", env=env).start()
    log = open(workdir / "worker.log", "wb")  # noqa: SIM115 (lives with the worker)
    worker = subprocess.Popen(
        [str(VENV_BIN / "mimamori-cloud"), "worker", "--interval", "0.2"],
        env=server.full_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=server.base_url, timeout=30)
    latencies: list[float] = []
    line_latencies: list[float] = []
    try:
        admin = Admin(client, ADMIN_TOKEN)
        area = seed_area(admin, "ベンチ市")
        setup_channel(admin, area.municipality_id, area.office_id, line)
        homes = []
        for i in range(runs):
            household_id = seed_household(admin, area.office_id, i, ["08:00"], 2)
            contacts = admin.call("GET", f"/households/{household_id}")["contacts"]
            on_line = next(c for c in contacts if c["email"] == family_email(i, 1))
            link_contact(client, admin, on_line["id"], line_user_id(i), line)
            homes.append(enroll(client, admin, household_id))
        for i, gateway in enumerate(homes):
            since = len(sink.messages)
            started, wall = time.perf_counter(), time.time()
            gateway.record(v1.EventKind.HELP_REQUESTED, {"source": "button"}, datetime.now(UTC))
            gateway.upload()
            wait_for_mail_to(sink, family_email(i), since)
            latencies.append(time.perf_counter() - started)
            [push] = line.wait_for(1, timeout=30, to=line_user_id(i))
            line_latencies.append(push.at - wall)
            # The office's mail of the same step: let it land before the next run starts.
            wait_for_mail_to(sink, "office@example.jp", since)
    finally:
        client.close()
        stop_process(worker)
        log.close()
        server.stop()
        sink.stop()
        line.stop()
    return latencies, line_latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs instead of 100")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    runs = args.runs or (10 if args.quick else 100)
    workdir = Path(tempfile.mkdtemp(prefix="mimamori-bench-e2e-"))
    try:
        latencies, line_latencies = run(runs, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"runs={runs} min={min(latencies):.3f}s max={max(latencies):.3f}s "
        f"mean={statistics.fmean(latencies):.3f}s load={os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "e2e",
                "help_to_mail_p50_s": round(percentile(latencies, 0.50), 3),
                "help_to_mail_p95_s": round(percentile(latencies, 0.95), 3),
                "help_to_line_p50_s": round(percentile(line_latencies, 0.50), 3),
                "help_to_line_p95_s": round(percentile(line_latencies, 0.95), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
