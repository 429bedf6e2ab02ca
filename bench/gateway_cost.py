"""What one gateway request costs the cloud: CPU (API process and PostgreSQL) and database
transactions per heartbeat, life-sign summary and check-in answer (issue 18).

A closed loop of N requests of one kind at a time, 16 in flight, against a real
`mimamori-cloud serve` (1 process) on SQLite or PostgreSQL with 2,000 seeded households.
CPU seconds come from /proc (the server's and PostgreSQL's process trees), so the figure is
the work done, not the wall-clock time: it holds on a busy shared machine where latencies
do not. Compare code versions by running this file from each checkout
(`PYTHONPATH=<checkout> .venv/bin/python <checkout>/bench/gateway_cost.py`).
Statements per request are counted in-process beside it (the same app on the same database,
a SQLAlchemy `before_cursor_execute` listener; BEGIN/COMMIT and the pool's pre-ping not
counted): `<kind>_statements`. Bodies are made here from the v1 wire contract's models.
`--baseline <checkout>` measures a second server run from another checkout of the code
(`PYTHONPATH=<checkout>`, e.g. `git archive <commit> | tar -x -C <dir>`) in the same run, on
its own database of the same kind: `<database>_baseline` and the ratios after / before.
Last line: {"bench": "gateway_cost", "sqlite": {...}, "postgresql": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine, event

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import morning

from cloud.app import create_app
from cloud.core.config import Settings
from cloud.migrations import upgrade_head
from mimamori_dev.scenario import Admin
from mimamori_dev.services import CloudServer, PostgresCluster
from mimamori_dev.simgateway import GATEWAY_PREFIX
from mimamori_wire import v1

KINDS = ("heartbeat", "summary", "checkin")
HEARTBEAT_BODY = v1.Heartbeat(
    software_version="bench",
    uptime_s=3600,
    outbox_depth=0,
    devices=[
        v1.DeviceHealth(device="pir-1", role="motion", room="居間", battery_pct=80),
        v1.DeviceHealth(device="door-1", role="door", room="玄関", battery_pct=65),
    ],
).model_dump_json()
Gateway = tuple[str, str, str]  # household id, gateway id, token


def request_for(kind: str, gateway: Gateway, day: str) -> tuple[str, str, dict[str, str]]:
    """(path, body, headers) of one request: a heartbeat, an hourly life-sign summary, or the
    morning slot's answer of the local date `day`."""
    household_id, gateway_id, token = gateway
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if kind == "heartbeat":
        return f"{GATEWAY_PREFIX}/heartbeat", HEARTBEAT_BODY, headers
    now = datetime.now(UTC)  # wall clock: seeds for a cloud served on it
    if kind == "summary":
        hour = now.replace(minute=0, second=0, microsecond=0).isoformat()
        event_kind = v1.EventKind.ACTIVITY_SUMMARY
        payload: dict = {"hour_start": hour, "counts": {"居間": 7, "台所": 3}}
    else:
        event_kind = v1.EventKind.CHECKIN_ANSWERED
        payload = {"slot": "morning", "slot_date": day, "intent": "fine", "confidence": 0.92}
        payload["attempts"] = 1
    one = v1.Event.create(
        household_id=household_id,
        gateway_id=gateway_id,
        kind=event_kind,
        payload=payload,
        occurred_at=now,
        recorded_at=now,
    )
    return f"{GATEWAY_PREFIX}/events", _batch(one), headers


def _batch(event: v1.Event) -> str:
    return v1.EventBatch(events=[event]).model_dump_json(by_alias=True)


def _failed(kind: str, response: httpx.Response) -> bool:
    """Not a 200, or an event not stored (a 200 lists refused events in `rejected`)."""
    return response.status_code != 200 or (
        kind != "heartbeat" and bool(response.json()["rejected"])
    )


async def _play(base_url: str, gateways: list[Gateway], kind: str, count: int, day: str) -> int:
    """`count` requests of `kind`, 16 in flight; -> non-200 answers."""
    errors = 0
    queue = list(range(count))

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            path, body, headers = request_for(kind, gateways[queue.pop() % len(gateways)], day)
            response = await client.post(path, content=body, headers=headers)
            errors += _failed(kind, response)

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(one(client) for _ in range(16)))
    return errors


def statements_per_request(url: str, gateways: list[Gateway], day: str) -> dict[str, float]:
    """SQL statements per request of each kind, counted in-process (the same app on the same
    database): 20 gateways that did not send this kind in the timed run (a steady heartbeat:
    each beats once first, the first beat is kept in the history)."""
    app = create_app(Settings(database_url=url, secret_key="bench-secret-" * 4))
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    async def post(client: httpx.AsyncClient, kind: str, gateway: Gateway) -> None:
        path, body, headers = request_for(kind, gateway, day)
        response = await client.post(path, content=body, headers=headers)
        assert not _failed(kind, response), response.text

    async def run() -> dict[str, float]:
        out: dict[str, float] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for kind in KINDS:
                if kind == "heartbeat":
                    for gateway in gateways:
                        await post(client, kind, gateway)
                seen.clear()
                event.listen(Engine, "before_cursor_execute", count)
                try:
                    for gateway in gateways:
                        await post(client, kind, gateway)
                finally:
                    event.remove(Engine, "before_cursor_execute", count)
                out[f"{kind}_statements"] = round(len(seen) / len(gateways), 2)
        return out

    try:
        return asyncio.run(run())
    finally:
        app.state.mimamori.engine.dispose()


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


def measure(url: str, work: Path, count: int, db_pids: list[int], code: Path | None = None) -> dict:
    """The figures of one server; `code`: run it from that checkout instead of this one."""
    upgrade_head(url)
    env = {"MIMAMORI_ADMIN_TOKEN": "bench"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    server = CloudServer(url, work / "cloud", env=env, workers=1)
    server.start()
    try:
        admin = Admin(httpx.Client(base_url=server.base_url, timeout=60), "bench")
        offices = morning.seed_area(admin, 2)
        seeded = morning.seed_households(url, offices, 2000 + 20, 0)
        # The slot's local date as the gateway reports it (morning.py seeds Tokyo households).
        # wall clock: the served cloud runs on it
        day = datetime.now(morning.TOKYO).date().isoformat()
        timed, counted = seeded[:2000], seeded[2000:]
        out: dict[str, float] = {}
        pids = [server.proc.pid, *db_pids]  # type: ignore[union-attr]
        for kind in KINDS:
            # Warm up; heartbeats: every timed gateway beats once first, so the timed beats
            # are the steady ones (the first beat of a quarter hour is kept in the history).
            warm = count if kind == "heartbeat" else 50
            asyncio.run(_play(server.base_url, timed, kind, warm, day))
            commits, cpu = _commits(url), morning.tree_cpu_s(pids)
            db_cpu = morning.tree_cpu_s(db_pids)
            errors = asyncio.run(_play(server.base_url, timed, kind, count, day))
            out[f"{kind}_cpu_ms"] = round((morning.tree_cpu_s(pids) - cpu) / count * 1000, 2)
            out[f"{kind}_db_cpu_ms"] = round(
                (morning.tree_cpu_s(db_pids) - db_cpu) / count * 1000, 2
            )
            if db_pids:  # the counter's own query is one commit
                out[f"{kind}_commits"] = round((_commits(url) - commits - 1) / count, 2)
            out[f"{kind}_errors"] = errors
        if code is None:  # in-process: only this checkout's code can be counted
            out.update(statements_per_request(url, counted, day))
        return out
    finally:
        server.stop()


def ratios(after: dict, before: dict) -> dict[str, float]:
    """after / before of each CPU figure both runs have."""
    return {
        key: round(after[key] / before[key], 2)
        for key in after
        if key.endswith("cpu_ms") and before.get(key)
    }


def measure_both(
    name: str, url_for, work: Path, count: int, db_pids: list[int], baseline: Path | None
) -> dict[str, object]:
    """This checkout's figures under `name`; with a baseline, the baseline's (measured
    first, on its own database) and the ratios."""
    out: dict[str, object] = {}
    if baseline is not None:
        before = measure(url_for("base"), work / f"{name}-base", count, db_pids, baseline)
        out[f"{name}_baseline"] = before
    out[name] = after = measure(url_for("cost"), work / name, count, db_pids)
    if baseline is not None:
        out[f"{name}_ratio"] = ratios(after, before)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 requests a kind (< 1 min)")
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of the code to measure beside this one"
    )
    args = parser.parse_args()
    count = 300 if args.quick else args.requests
    out: dict[str, object] = {"bench": "gateway_cost", "requests_each": count}
    if args.baseline is not None:
        out["baseline"] = str(args.baseline)
    work = Path(tempfile.mkdtemp(prefix="mimamori-bench-cost-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-cost-pg-"))
    try:
        if args.only != "postgresql":
            out.update(
                measure_both(
                    "sqlite", lambda n: f"sqlite:///{work}/{n}.db", work, count, [], args.baseline
                )
            )
        if args.only != "sqlite":
            cluster = PostgresCluster(pg_dir).start()
            try:
                pids = [morning.postmaster_pid(cluster)]
                out.update(
                    measure_both(
                        "postgresql", cluster.create_database, work, count, pids, args.baseline
                    )
                )
            finally:
                cluster.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    out["load_avg_1m"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
