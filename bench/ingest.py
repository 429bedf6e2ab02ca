"""Ingest benchmark: events/s accepted over HTTP in batches of 100, duplicates included,
against `mimamori-cloud serve` on SQLite and on PostgreSQL (a throwaway cluster).

Last line: {"bench": "ingest", "sqlite_events_per_s": ..., "postgresql_events_per_s": ...}
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mimamori_dev.services import CloudServer, PostgresCluster
from mimamori_dev.simgateway import OneShotClient, enroll_gateway
from mimamori_wire import v1

ADMIN = {"Authorization": "Bearer bench-admin"}
BATCH = 100
DUPLICATE_SHARE = 0.1  # a tenth of each batch repeats events already sent (gateway retries)


def _admin(server: CloudServer, path: str, body: dict | None = None) -> dict:
    r = httpx.post(f"{server.base_url}/api/v1/admin{path}", json=body, headers=ADMIN, timeout=30)
    r.raise_for_status()
    return r.json()


def _gateways(server: CloudServer, count: int) -> list[v1.EnrollResponse]:
    muni = _admin(server, "/municipalities", {"name": "ベンチ市"})
    office = _admin(server, "/offices", {"municipality_id": muni["id"], "name": "ベンチ局"})
    out = []
    for n in range(count):
        hh = _admin(server, "/households", {"office_id": office["id"], "resident_name": f"住民{n}"})
        code = _admin(server, f"/households/{hh['id']}/enrollment-codes")["code"]
        http = OneShotClient(server.base_url)
        out.append(enroll_gateway(http, code, hardware_id=f"bench-{n}", software_version="bench"))
    return out


def _event(gw: v1.EnrollResponse, rng: random.Random) -> dict:
    roll = rng.random()
    if roll < 0.9:
        kind, payload = v1.EventKind.ACTIVITY, {"sensor": "pir-1", "kind": "motion"}
    elif roll < 0.97:
        kind = v1.EventKind.CHECKIN_ANSWERED
        payload = {"slot": "morning", "intent": "fine", "confidence": 0.9, "attempts": 1}
    else:
        kind, payload = v1.EventKind.DEVICE_BATTERY_LOW, {"device": "door-1", "battery_pct": 9}
    return v1.Event.create(
        household_id=gw.household_id, gateway_id=gw.gateway_id, kind=kind, payload=payload
    ).to_wire()


def _bodies(gws: list[v1.EnrollResponse], batches: int, seed: int) -> list[tuple[str, bytes, int]]:
    """Pre-serialised (token, body, new events) so the client spends no time building JSON."""
    rng = random.Random(seed)
    sent: dict[str, list[dict]] = {g.gateway_id: [] for g in gws}
    out = []
    for n in range(batches):
        gw = gws[n % len(gws)]
        history = sent[gw.gateway_id]
        dups = min(len(history), int(BATCH * DUPLICATE_SHARE))
        fresh = [_event(gw, rng) for _ in range(BATCH - dups)]
        events = fresh + rng.sample(history, dups)
        history.extend(fresh)
        out.append((gw.token, json.dumps({"events": events}).encode(), len(fresh)))
    return out


def measure(server: CloudServer, batches: int, gateways: int, clients: int) -> dict:
    gws = _gateways(server, gateways)
    bodies = _bodies(gws, batches, seed=7)
    local = threading.local()
    accepted_total = [0]

    def post(item: tuple[str, bytes, int]) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base_url, timeout=60)
        token, body, _fresh = item
        r = local.client.post(
            "/api/v1/gateway/events",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        r.raise_for_status()
        result = r.json()
        accepted_total[0] += len(result["accepted"])  # GIL-atomic enough for a tally check
        return len(result["accepted"]) + len(result["duplicates"])

    # Warm-up (connections, caches), not timed.
    warm, timed = bodies[: clients * 2], bodies[clients * 2 :]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, warm))
        start = time.perf_counter()
        handled = sum(pool.map(post, timed))
        elapsed = time.perf_counter() - start
    unique = sum(fresh for _, _, fresh in bodies)
    # Every distinct event stored exactly once, whatever order concurrent batches landed in.
    assert accepted_total[0] == unique, (accepted_total[0], unique)
    return {"events": handled, "seconds": elapsed, "events_per_s": handled / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (< 1 minute)")
    args = parser.parse_args()
    batches = 120 if args.quick else 600
    workers = 2  # one uvicorn process per core
    env = {"MIMAMORI_ADMIN_TOKEN": "bench-admin", "MIMAMORI_SECRET_KEY": "bench"}
    work = Path(tempfile.mkdtemp(prefix="mimamori-bench-ingest-"))
    results: dict[str, dict] = {}
    # Its own temp dir: initdb runs as the postgres user, which cannot enter `work` (0700).
    pg_dir = Path(tempfile.mkdtemp(prefix="mimamori-bench-pg-"))
    cluster = PostgresCluster(pg_dir)
    try:
        sqlite = CloudServer(
            f"sqlite:///{work}/bench.db", work / "sqlite", env=env, workers=workers
        ).start()
        try:
            results["sqlite"] = measure(sqlite, batches, gateways=20, clients=8)
        finally:
            sqlite.stop()
        cluster.start()
        pg = CloudServer(
            cluster.create_database("bench"), work / "pgcloud", env=env, workers=workers
        ).start()
        try:
            results["postgresql"] = measure(pg, batches, gateways=20, clients=8)
        finally:
            pg.stop()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    for name, figures in results.items():
        print(f"{name}: {figures['events']} events in {figures['seconds']:.2f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "ingest",
                "sqlite_events_per_s": round(results["sqlite"]["events_per_s"]),
                "postgresql_events_per_s": round(results["postgresql"]["events_per_s"]),
                "batch_size": BATCH,
                "duplicate_share": DUPLICATE_SHARE,
                "api_workers": workers,
                "batches": batches,
            }
        )
    )


if __name__ == "__main__":
    main()
