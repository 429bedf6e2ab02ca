"""What one gateway request costs the cloud: CPU (API process and PostgreSQL) and database
transactions per heartbeat, life-sign summary and check-in answer (issue 18).

A closed loop of N requests of one kind at a time, 16 in flight, against a real
`mimamori-cloud serve` (1 process) on SQLite or PostgreSQL with 2,000 seeded households.
CPU seconds come from /proc (the server's and PostgreSQL's process trees), so the figure is
the work done, not the wall-clock time: it holds on a busy shared machine where latencies
do not. Compare code versions by running this file from each checkout
(`PYTHONPATH=<checkout> .venv/bin/python <checkout>/bench/gateway_cost.py`).
Last line: {"bench": "gateway_cost", "sqlite": {...}, "postgresql": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import morning

from cloud.migrations import upgrade_head
from mimamori_dev.loadgen import HEARTBEAT_BODY, Home, events_for
from mimamori_dev.scenario import Admin
from mimamori_dev.services import CloudServer, PostgresCluster
from mimamori_dev.simgateway import GATEWAY_PREFIX
from mimamori_wire import v1

KINDS = ("heartbeat", "summary", "checkin")


async def _play(base_url: str, homes: list[Home], kind: str, count: int) -> int:
    """`count` requests of `kind`, 16 in flight; -> non-200 answers."""
    errors = 0
    queue = list(range(count))

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            home = homes[queue.pop() % len(homes)]
            headers = {"Authorization": f"Bearer {home.token}"}
            if kind == "heartbeat":
                url, body = f"{GATEWAY_PREFIX}/heartbeat", HEARTBEAT_BODY
            else:
                events = events_for(home, kind, "", datetime.now(UTC))
                url = f"{GATEWAY_PREFIX}/events"
                body = v1.EventBatch(events=events).model_dump_json(by_alias=True)
            headers["Content-Type"] = "application/json"
            response = await client.post(url, content=body, headers=headers)
            errors += response.status_code != 200

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(one(client) for _ in range(16)))
    return errors


def _commits(url: str) -> int:
    if not url.startswith("postgresql"):
        return 0
    engine = morning.reader_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
                ).scalar_one()
            )
    finally:
        engine.dispose()


def measure(url: str, work: Path, count: int, db_pids: list[int]) -> dict:
    upgrade_head(url)
    server = CloudServer(url, work / "cloud", env={"MIMAMORI_ADMIN_TOKEN": "bench"}, workers=1)
    server.start()
    try:
        admin = Admin(httpx.Client(base_url=server.base_url, timeout=60), "bench")
        offices = morning.seed_area(admin, 1)
        seeded = morning.seed_households(url, offices, 2000, 0)
        day = datetime.now(UTC).date().isoformat()
        homes = [Home(i, h, g, t, "morning", day, 0.0, 0.0) for i, (h, g, t) in enumerate(seeded)]
        out: dict[str, float] = {}
        pids = [server.proc.pid, *db_pids]  # type: ignore[union-attr]
        for kind in KINDS:
            asyncio.run(_play(server.base_url, homes, kind, 50))  # warm up
            commits, cpu = _commits(url), morning.tree_cpu_s(pids)
            db_cpu = morning.tree_cpu_s(db_pids)
            errors = asyncio.run(_play(server.base_url, homes, kind, count))
            out[f"{kind}_cpu_ms"] = round((morning.tree_cpu_s(pids) - cpu) / count * 1000, 2)
            out[f"{kind}_db_cpu_ms"] = round(
                (morning.tree_cpu_s(db_pids) - db_cpu) / count * 1000, 2
            )
            if db_pids:  # the counter's own query is one commit
                out[f"{kind}_commits"] = round((_commits(url) - commits - 1) / count, 2)
            out[f"{kind}_errors"] = errors
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 requests a kind (< 1 min)")
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind")
    args = parser.parse_args()
    count = 300 if args.quick else args.requests
    out: dict[str, object] = {"bench": "gateway_cost", "requests_each": count}
    work = Path(tempfile.mkdtemp(prefix="mimamori-bench-cost-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-cost-pg-"))
    try:
        out["sqlite"] = measure(f"sqlite:///{work}/cost.db", work / "a", count, [])
        cluster = PostgresCluster(pg_dir).start()
        try:
            url = cluster.create_database("cost")
            out["postgresql"] = measure(url, work / "b", count, [morning.postmaster_pid(cluster)])
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    import os

    out["load_avg_1m"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
