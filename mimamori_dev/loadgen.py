"""Many simulated gateways over the real gateway HTTP API at once (bench/morning.py).

Open loop: every request has a planned time (a heartbeat every interval from a random
phase, hourly life-sign summaries, sensor alerts at their rate, a slot's answer before its
deadline), and a bounded pool of connections sends them. The lateness of each start is
measured too, so a cloud that slows down shows as latency *and* as the generator falling
behind: a closed loop would hide the queueing (coordinated omission).

Bodies are the v1 wire contract's models; identities come from the real enrollment path
(`mimamori_dev.simgateway.enroll_gateway`) or from rows the benchmark seeded with the
cloud's own token hash. Only the given base URL is contacted (the benchmarks pass loopback)
and every run ends at its planned end, or at `end + drain_s` at the latest.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from mimamori_dev.simgateway import GATEWAY_PREFIX
from mimamori_wire import v1

BEHAVIOURS = ("fine", "reask", "unwell", "help", "silent", "offline")
RECURRING = ("heartbeat", "summary", "sensor")


@dataclass(frozen=True)
class Mix:
    """Shares of households by behaviour at the slot; the rest answer "fine" at once."""

    silent: float = 0.02  # asked, never answers (checkin.no_response): missed check-in
    offline: float = 0.005  # no heartbeats, nothing at all: gateway offline at the deadline
    unwell: float = 0.02
    help: float = 0.002
    reask: float = 0.10  # answers on the second ask

    def behaviours(self, count: int, seed: int = 1) -> list[str]:
        """Exactly round(share * count) of each, in a seeded random order."""
        shares = {
            "silent": self.silent,
            "offline": self.offline,
            "unwell": self.unwell,
            "help": self.help,
            "reask": self.reask,
        }
        out: list[str] = []
        for name, share in shares.items():
            out += [name] * round(share * count)
        if len(out) > count:
            raise ValueError(f"shares add up to more than all {count} households")
        out += ["fine"] * (count - len(out))
        random.Random(seed).shuffle(out)
        return out


@dataclass(frozen=True)
class Rates:
    """Seconds between requests of each recurring kind, per gateway."""

    heartbeat_s: float = 60.0  # v1.GatewayConfig.heartbeat_interval_s default
    summary_s: float = 3600.0  # gateway/activity.py: one activity.summary an hour
    # Raw activity never leaves the home (gateway/activity.py); sensors' own news (a low
    # battery, a cold room) a few times a day is an upper estimate.
    sensor_s: float = 21600.0

    def posts_per_day(self) -> dict[str, float]:
        day = 86400.0
        return {
            "heartbeat": day / self.heartbeat_s,
            "summary": day / self.summary_s,
            "sensor": day / self.sensor_s,
        }

    def period(self, kind: str) -> float:
        return {"heartbeat": self.heartbeat_s, "summary": self.summary_s, "sensor": self.sensor_s}[
            kind
        ]


@dataclass(frozen=True)
class Home:
    """One simulated gateway: who it is and what its resident does at the slot."""

    index: int
    household_id: str
    gateway_id: str
    token: str
    slot: str
    slot_date: str  # local date of the slot, YYYY-MM-DD
    ask_at: float  # epoch seconds: the gateway asks (the slot time, compressed)
    deadline: float  # epoch seconds: the cloud's next_deadline for this slot
    behaviour: str = "fine"


@dataclass
class Stats:
    """What the cloud answered: latency of every 200 by kind, every failure by reason."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    behind_s: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # epoch seconds each request started
    events_acknowledged: int = 0
    commands_done: int = 0
    sent_at: dict[tuple[int, str], float] = field(default_factory=dict)  # (home, kind) -> t

    def ok(self, kind: str, ms: float) -> None:
        self.latencies_ms.setdefault(kind, []).append(ms)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_ms.values()) + sum(self.errors.values())

    def summary(self) -> dict[str, float | int]:
        every = [ms for values in self.latencies_ms.values() for ms in values]
        out: dict[str, float | int] = {
            "requests": self.requests,
            "errors": sum(self.errors.values()),
            "p50_ms": percentile(every, 50),
            "p99_ms": percentile(every, 99),
            "behind_p99_s": percentile(self.behind_s, 99),
            "events_acknowledged": self.events_acknowledged,
            "commands_done": self.commands_done,
        }
        for kind, values in sorted(self.latencies_ms.items()):
            out[f"{kind}_count"] = len(values)
            out[f"{kind}_p99_ms"] = percentile(values, 99)
        return out


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


# --- the plan: what each home sends when -----------------------------------------------------

Action = tuple[float, int, int, str, str]  # (at, seq, home index, kind, extra)


def slot_actions(home: Home, rng: random.Random) -> list[tuple[float, str]]:
    """The slot's requests of one home: (epoch seconds, kind)."""
    window = home.deadline - home.ask_at
    match home.behaviour:
        case "fine" | "unwell":
            return [(home.ask_at + window * rng.uniform(0.05, 0.5), "checkin")]
        case "reask":
            return [(home.ask_at + window * rng.uniform(0.5, 0.8), "checkin")]
        case "help":
            at = home.ask_at + window * rng.uniform(0.05, 0.3)
            return [(at, "help"), (at + window * 0.1, "checkin")]
        case "silent":
            return [(home.ask_at + window * 0.85, "no_response")]
    return []  # offline: nothing at all


def plan(homes: Iterable[Home], start: float, rates: Rates, seed: int = 2) -> list[Action]:
    """A heap of first requests: recurring kinds at a random phase, then each slot's."""
    rng = random.Random(seed)
    heap: list[Action] = []
    seq = 0
    for home in homes:
        if home.behaviour == "offline":
            continue
        items = [(start + rng.uniform(0, rates.period(k)), k) for k in RECURRING]
        for at, kind in items + slot_actions(home, rng):
            heap.append((at, seq, home.index, kind, ""))
            seq += 1
    heapq.heapify(heap)
    return heap


# --- bodies (the wire contract) --------------------------------------------------------------


def _event(home: Home, kind: v1.EventKind, payload: dict, now: datetime) -> v1.Event:
    return v1.Event.create(
        household_id=home.household_id,
        gateway_id=home.gateway_id,
        kind=kind,
        payload=payload,
        occurred_at=now,
        recorded_at=now,
    )


def events_for(home: Home, kind: str, extra: str, now: datetime) -> list[v1.Event]:
    """The event batch a gateway posts for one planned action."""
    answer = {"slot": home.slot, "slot_date": home.slot_date, "confidence": 0.92}
    match kind:
        case "checkin":
            intent = {"unwell": "unwell", "reask": "usual"}.get(home.behaviour, "fine")
            payload = {
                **answer,
                "intent": intent,
                "attempts": 2 if home.behaviour == "reask" else 1,
            }
            return [_event(home, v1.EventKind.CHECKIN_ANSWERED, payload, now)]
        case "no_response":
            payload = {"slot": home.slot, "slot_date": home.slot_date, "attempts": 3}
            return [_event(home, v1.EventKind.CHECKIN_NO_RESPONSE, payload, now)]
        case "help":
            return [_event(home, v1.EventKind.HELP_REQUESTED, {"source": "button"}, now)]
        case "summary":
            hour = now.replace(minute=0, second=0, microsecond=0)
            payload = {"hour_start": hour.isoformat(), "counts": {"居間": 7, "台所": 3}}
            return [_event(home, v1.EventKind.ACTIVITY_SUMMARY, payload, now)]
        case "sensor":  # raw activity stays home; what sensors send up is rarer news
            if random.random() < 0.5:
                payload = {"sensor": "temp-1", "condition": "cold", "temperature_c": 9.5}
                return [_event(home, v1.EventKind.ENVIRONMENT_ALERT, payload, now)]
            payload = {"device": "door-1", "battery_pct": 9}
            return [_event(home, v1.EventKind.DEVICE_BATTERY_LOW, payload, now)]
        case "command_done":
            return [_event(home, v1.EventKind.COMMAND_DONE, {"command_id": extra}, now)]
    raise ValueError(f"no events for action {kind!r}")


HEARTBEAT_BODY = v1.Heartbeat(
    software_version="loadgen",
    uptime_s=3600,
    outbox_depth=0,
    devices=[
        v1.DeviceHealth(device="pir-1", role="motion", room="居間", battery_pct=80),
        v1.DeviceHealth(device="door-1", role="door", room="玄関", battery_pct=65),
    ],
).model_dump_json()


# --- the run ---------------------------------------------------------------------------------


@dataclass
class LoadGenerator:
    """Plays `homes` against `base_url` from `start` to `end` (epoch seconds)."""

    base_url: str
    homes: list[Home]
    rates: Rates = field(default_factory=Rates)
    concurrency: int = 64
    timeout_s: float = 30.0
    drain_s: float = 30.0
    stats: Stats = field(default_factory=Stats)
    _done_commands: set[str] = field(default_factory=set)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(10**12))

    def run(self, start: float, end: float) -> Stats:
        asyncio.run(self._run(start, end))
        return self.stats

    async def _run(self, start: float, end: float) -> None:
        heap = plan(self.homes, start, self.rates)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task] = set()
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=self.timeout_s
        ) as client:
            while heap and heap[0][0] < end and time.time() < end + self.drain_s:
                wait = heap[0][0] - time.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, 0.2))
                    continue
                at, _, index, kind, extra = heapq.heappop(heap)
                await slots.acquire()
                self.stats.behind_s.append(max(0.0, time.time() - at))
                task = asyncio.create_task(self._send(client, slots, heap, index, kind, extra))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if kind in RECURRING:
                    again = at + self.rates.period(kind)
                    heapq.heappush(heap, (again, next(self._seq), index, kind, ""))
            if tasks:
                _, late = await asyncio.wait(
                    tasks, timeout=max(1.0, end + self.drain_s - time.time())
                )
                for task in late:  # still waiting for the cloud at the time limit: an error
                    task.cancel()
                    self.stats.errors["unfinished_at_time_limit"] += 1

    async def _send(
        self,
        client: httpx.AsyncClient,
        slots: asyncio.Semaphore,
        heap: list[Action],
        index: int,
        kind: str,
        extra: str,
    ) -> None:
        home = self.homes[index]
        headers = {"Authorization": f"Bearer {home.token}", "Content-Type": "application/json"}
        try:
            if kind == "heartbeat":
                body = HEARTBEAT_BODY
                url = f"{GATEWAY_PREFIX}/heartbeat"
                events: list[v1.Event] = []
            else:
                events = events_for(home, kind, extra, datetime.now(UTC))
                body = v1.EventBatch(events=events).model_dump_json(by_alias=True)
                url = f"{GATEWAY_PREFIX}/events"
            self.stats.sent_at[(index, kind)] = now = time.time()
            self.stats.starts.append(now)
            began = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            elapsed_ms = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                self.stats.errors[f"http_{response.status_code}"] += 1
                return
            data = response.json()
            if kind == "heartbeat":
                self._commands(heap, index, data.get("commands", []))
            elif not self._acknowledged(data, len(events)):
                return
            self.stats.ok(kind, elapsed_ms)
        except (httpx.HTTPError, ValueError) as exc:
            self.stats.errors[type(exc).__name__] += 1
        finally:
            slots.release()

    def _acknowledged(self, data: dict, sent: int) -> bool:
        """A 200 counts only if every event came back accepted or duplicate."""
        for rejected in data.get("rejected", []):
            self.stats.errors[f"rejected_{rejected.get('reason')}"] += 1
        done = len(data.get("accepted", [])) + len(data.get("duplicates", []))
        self.stats.events_acknowledged += done
        if done != sent:
            self.stats.errors["events_not_acknowledged"] += sent - done
            return False
        return True

    def _commands(self, heap: list[Action], index: int, commands: list[dict]) -> None:
        """A re-prompt (or any command) is done by the gateway and acknowledged, once each."""
        for command in commands:
            if command["id"] not in self._done_commands:
                self._done_commands.add(command["id"])
                self.stats.commands_done += 1
                heapq.heappush(
                    heap, (time.time(), next(self._seq), index, "command_done", command["id"])
                )
