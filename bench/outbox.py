"""Outbox benchmark: durable events/s and bytes written per event (/proc/self/io) for the
SQLite WAL group-commit outbox vs a naive TinyDB outbox in the same run, and the drain rate
of a backlog to a real local cloud (uvicorn + SQLite, started here).

    .venv/bin/python bench/outbox.py [--quick]

Last line: {"bench": "outbox", "events_per_s", "bytes_per_event", "tinydb_events_per_s",
"drain_events_per_s", ...}. Goals: >= 5,000 events/s, <= 2 KB/event, drain >= 2,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinydb import TinyDB

from gateway.cloud_client import CloudClient
from gateway.outbox import Outbox, read_write_bytes
from gateway.uplink import Backoff, Uploader
from mimamori_dev.services import CloudServer
from mimamori_dev.simgateway import OneShotClient, enroll_gateway
from mimamori_wire.v1 import Activity, Event, EventKind

PRODUCERS = 32


def events(n: int, household: str = "hh", gateway: str = "gw") -> list[Event]:
    return [
        Event.create(
            household_id=household,
            gateway_id=gateway,
            kind=EventKind.ACTIVITY,
            payload=Activity(sensor=f"living-motion-{i % 4}", kind="motion", room="living"),
        )
        for i in range(n)
    ]


def bench_outbox(workdir: Path, n: int) -> tuple[float, float]:
    """Many producers, each awaiting its own ack (commit) before the next event."""
    box = Outbox(workdir / "outbox.sqlite3", capacity=10 * n)
    box.open()
    batch = events(n)
    chunks = [batch[i::PRODUCERS] for i in range(PRODUCERS)]

    async def producer(mine: list[Event]) -> None:
        for event in mine:
            await box.put(event)

    async def run() -> None:
        await asyncio.gather(*(producer(c) for c in chunks))

    before = read_write_bytes()
    start = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - start
    written = read_write_bytes() - before
    assert box.depth() == n
    box.close()
    return n / elapsed, written / n


def bench_tinydb(workdir: Path, n: int) -> float:
    """The naive outbox: TinyDB JSONStorage, one insert per event (rewrites the file)."""
    db = TinyDB(workdir / "tiny.json")
    table = db.table("outbox")
    batch = [e.to_wire() for e in events(n)]
    start = time.perf_counter()
    for doc in batch:
        table.insert(doc)
    elapsed = time.perf_counter() - start
    db.close()
    return n / elapsed


def bench_drain(workdir: Path, n: int) -> float:
    cloud = CloudServer(f"sqlite:///{workdir}/cloud.db", workdir / "cloud").start()
    try:
        muni = cloud.cli_id("create-municipality", "--name", "ベンチ市")
        office = cloud.cli_id("create-office", "--municipality", muni, "--name", "ベンチ局")
        household = cloud.cli_id("create-household", "--office", office, "--name", "試験 太郎")
        code = cloud.cli_id("issue-code", "--household", household)
        enrolled = enroll_gateway(
            OneShotClient(cloud.base_url), code, hardware_id="bench", software_version="bench"
        )
        box = Outbox(workdir / "backlog.sqlite3", capacity=10 * n)
        box.open()
        backlog = events(n, enrolled.household_id, enrolled.gateway_id)
        for i in range(0, n, 5000):
            box.put_sync(backlog[i : i + 5000])

        async def drain() -> float:
            client = CloudClient(cloud.base_url, enrolled.token)
            uploader = Uploader(box, client, batch_size=500, backoff=Backoff(max_s=1.0))
            start = time.perf_counter()
            while box.depth() > 0:
                if await uploader.upload_once() is None:
                    await asyncio.sleep(uploader.backoff.next_delay())
            elapsed = time.perf_counter() - start
            await client.aclose()
            return elapsed

        elapsed = asyncio.run(drain())
        box.close()
        return n / elapsed
    finally:
        cloud.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args()
    n_outbox, n_tiny, n_drain = (20_000, 1_000, 10_000) if args.quick else (100_000, 2_000, 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        workdir = Path(tmp)
        events_per_s, bytes_per_event = bench_outbox(workdir, n_outbox)
        print(f"outbox: {n_outbox} events, {events_per_s:.0f}/s, {bytes_per_event:.0f} B/event")
        tiny = bench_tinydb(workdir, n_tiny)
        print(f"tinydb: {n_tiny} events, {tiny:.0f}/s")
        drain = bench_drain(workdir, n_drain)
        print(f"drain: {n_drain} events, {drain:.0f}/s")
    print(
        json.dumps(
            {
                "bench": "outbox",
                "events_per_s": round(events_per_s),
                "bytes_per_event": round(bytes_per_event),
                "tinydb_events_per_s": round(tiny),
                "drain_events_per_s": round(drain),
                "ratio_vs_tinydb": round(events_per_s / tiny, 1),
                "events": n_outbox,
                "tinydb_events": n_tiny,
                "drain_events": n_drain,
            }
        )
    )


if __name__ == "__main__":
    main()
