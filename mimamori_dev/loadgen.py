"""Many simulated gateways over the real gateway HTTP API at once (bench/morning.py).

Open loop: every request has a planned time (a heartbeat every interval from a random
phase, hourly life-sign summaries, sensor alerts at their rate, a slot's answer before its
deadline), and a bounded pool of connections sends them. The lateness of each start is
measured too, so a cloud that slows down shows as latency *and* as the generator falling
behind: a closed loop would hide the queueing (coordinated omission).

The generator shares the 2-core machine with the cloud it measures, so each request costs it
as little CPU as possible (docs/benchmarks.md "morning": ~4-5 ms a request with httpx and
pydantic per request, ~0.15 ms now): bodies are bytes whose payloads were made once through
the v1 wire contract's models (`Bodies`), only ids and times filled in per request; requests
go over kept-alive connections (mimamori_dev/loadhttp.py) on uvloop. Its own CPU seconds and
its lateness are part of the figures: answers sent after their deadline make false alarms
that are the generator's fault, not the cloud's (`verdict`).

Identities come from the real enrollment path (`mimamori_dev.simgateway.enroll_gateway`) or
from rows the benchmark seeded with the cloud's own token hash. Only the given base URL is
contacted (the benchmarks pass loopback) and every run ends at its planned end, or at
`end + drain_s` at the latest.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvloop

from mimamori_dev.loadhttp import Pool
from mimamori_dev.simgateway import GATEWAY_PREFIX
from mimamori_wire import v1

BEHAVIOURS = ("fine", "reask", "unwell", "help", "silent", "offline")
RECURRING = ("heartbeat", "summary", "sensor")
# The slot's answers: one sent after its deadline finds a missed check-in already open.
ANSWERS = ("checkin", "no_response")
SLOT_KINDS = ("checkin", "no_response", "help")
HEARTBEAT_PATH = f"{GATEWAY_PREFIX}/heartbeat"
EVENTS_PATH = f"{GATEWAY_PREFIX}/events"
# A run whose requests started more than this late (p99), or with any answer sent after its
# deadline, did not put the planned load on the cloud: its figures are the generator's.
LATE_TOLERANCE_S = 5.0
# Issue 18's goals for the morning (scenario b; a is held to the same).
GOALS = {
    "errors": 0,
    "ingest_p99_ms": 500.0,
    "detect_lag_p99_s": 5.0,
    "deadline_to_mail_p99_s": 60.0,
    "desk_ms_under_load": 300.0,
}


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
    """What the cloud answered (latency of every 200 by kind, every failure by reason) and
    what the generator did: how late it started each request, what it spent."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    behind_s: list[float] = field(default_factory=list)  # start - planned, every request
    starts: list[float] = field(default_factory=list)  # epoch seconds each request started
    events_acknowledged: int = 0
    commands_done: int = 0
    sent_at: dict[tuple[int, str], float] = field(default_factory=dict)  # (home, slot kind) -> t
    answers_sent_late: int = 0  # answers (ANSWERS) started after their home's deadline
    connection_wait_s: float = 0.0  # due requests waiting for one of the `concurrency` slots
    cpu_s: float = 0.0  # the generator's own thread, plan included
    connects: int = 0

    def ok(self, kind: str, ms: float) -> None:
        self.latencies_ms.setdefault(kind, []).append(ms)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_ms.values()) + sum(self.errors.values())

    def summary(self) -> dict[str, float | int]:
        every = [ms for values in self.latencies_ms.values() for ms in values]
        requests = self.requests
        out: dict[str, float | int] = {
            "requests": requests,
            "errors": sum(self.errors.values()),
            "p50_ms": percentile(every, 50),
            "p99_ms": percentile(every, 99),
            "behind_p50_s": percentile(self.behind_s, 50),
            "behind_p99_s": percentile(self.behind_s, 99),
            "behind_max_s": round(max(self.behind_s, default=0.0), 2),
            "answers_sent_after_deadline": self.answers_sent_late,
            "connection_wait_s": round(self.connection_wait_s, 1),
            "generator_cpu_s": round(self.cpu_s, 2),
            "generator_cpu_ms_per_request": round(self.cpu_s / max(1, requests) * 1000, 3),
            "connections_opened": self.connects,
            "events_acknowledged": self.events_acknowledged,
            "commands_done": self.commands_done,
        }
        for kind, values in sorted(self.latencies_ms.items()):
            out[f"{kind}_count"] = len(values)
            out[f"{kind}_p99_ms"] = percentile(values, 99)
        return out


def verdict(figures: dict[str, Any]) -> dict[str, Any]:
    """Whether a run measured the cloud, and if so which goals it missed.

    A run is invalid ("generator_fell_behind") when its requests started more than
    LATE_TOLERANCE_S late (p99) or any answer was sent after its deadline: the cloud then did
    not get the planned load, and the late answers' missed check-ins are the generator's false
    alarms, not the cloud's. Unless the lateness was spent waiting for a free connection
    (connection_wait_s): then every connection was held by a request the cloud had not yet
    answered, i.e. the cloud could not keep up ("cloud_saturated", a valid run that misses
    its goals). `figures` needs behind_p99_s, answers_sent_after_deadline and the GOALS'
    names (a missing goal figure counts as missed)."""
    missed = [
        name for name, limit in GOALS.items() if figures.get(name) is None or figures[name] > limit
    ]
    late = figures["behind_p99_s"] > LATE_TOLERANCE_S or figures["answers_sent_after_deadline"] > 0
    if late and figures.get("connection_wait_s", 0.0) > LATE_TOLERANCE_S:
        return {"valid": True, "verdict": "cloud_saturated", "goals_missed": missed}
    if late:  # the goals missed are listed, but they judge the generator as much as the cloud
        return {"valid": False, "verdict": "generator_fell_behind", "goals_missed": missed}
    return {
        "valid": True,
        "verdict": "goals_missed" if missed else "goals_met",
        "goals_missed": missed,
    }


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

HEARTBEAT_BODY = (
    v1.Heartbeat(
        software_version="loadgen",
        uptime_s=3600,
        outbox_depth=0,
        devices=[
            v1.DeviceHealth(device="pir-1", role="motion", room="居間", battery_pct=80),
            v1.DeviceHealth(device="door-1", role="door", room="玄関", battery_pct=65),
        ],
    )
    .model_dump_json()
    .encode()
)


def slot_payload(home: Home, kind: str) -> tuple[v1.EventKind, dict[str, Any]]:
    """The event kind and payload of one of the slot's actions."""
    match kind:
        case "checkin":
            intent = {"unwell": "unwell", "reask": "usual"}.get(home.behaviour, "fine")
            return v1.EventKind.CHECKIN_ANSWERED, {
                "slot": home.slot,
                "slot_date": home.slot_date,
                "confidence": 0.92,
                "intent": intent,
                "attempts": 2 if home.behaviour == "reask" else 1,
            }
        case "no_response":
            payload = {"slot": home.slot, "slot_date": home.slot_date, "attempts": 3}
            return v1.EventKind.CHECKIN_NO_RESPONSE, payload
        case "help":
            return v1.EventKind.HELP_REQUESTED, {"source": "button"}
    raise ValueError(f"not a slot action: {kind!r}")


def sensor_payload(cold: bool) -> tuple[v1.EventKind, dict[str, Any]]:
    """Raw activity stays home; what sensors send up is rarer news: a cold room or a battery."""
    if cold:
        payload = {"sensor": "temp-1", "condition": "cold", "temperature_c": 9.5}
        return v1.EventKind.ENVIRONMENT_ALERT, payload
    return v1.EventKind.DEVICE_BATTERY_LOW, {"device": "door-1", "battery_pct": 9}


def summary_payload(hour: int) -> tuple[v1.EventKind, dict[str, Any]]:
    """The life-sign summary of the hour starting at epoch second `hour`."""
    hour_start = datetime.fromtimestamp(hour, UTC).isoformat()
    return v1.EventKind.ACTIVITY_SUMMARY, {
        "hour_start": hour_start,
        "counts": {"居間": 7, "台所": 3},
    }


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Bodies:
    """Event batch bodies as bytes, cheap per request.

    Each distinct payload goes once through the contract (`v1.Event`, which validates and
    normalises it as the gateway's own events are) and is kept as JSON bytes; a home's ids
    and bearer header are encoded once. Per request only the event id (the contract's UUIDv7)
    and the UTC times are filled in. tests/cloud/test_loadgen.py validates every kind's
    bytes against v1.EventBatch.
    """

    def __init__(self) -> None:
        self._payloads: dict[tuple, tuple[bytes, bytes]] = {}  # key -> (kind, payload) JSON
        self._homes: dict[int, tuple[bytes, bytes]] = {}  # index -> (ids fragment, auth line)
        self._second = -1
        self._second_text = b""

    def auth(self, home: Home) -> bytes:
        """The bearer header line of `home` (CRLF-terminated)."""
        return self._home(home)[1]

    def events(
        self, home: Home, kind: str, now: float, extra: str = "", cold: bool = False
    ) -> bytes:
        """The event batch a gateway posts for one planned action, stamped `now` (epoch s).
        `extra`: the command id of command_done; `cold`: which sensor news a sensor sends."""
        kind_json, payload = self._payload(home, kind, now, extra, cold)
        ms = round(now * 1000)
        stamp = self._stamp(ms)
        return b"".join(
            (
                b'{"events":[{"id":"',
                v1.new_event_id(ms).encode(),
                b'",',
                self._home(home)[0],
                b',"kind":',
                kind_json,
                b',"occurred_at":"',
                stamp,
                b'","recorded_at":"',
                stamp,
                b'","payload":',
                payload,
                b',"schema":1}]}',
            )
        )

    def _payload(
        self, home: Home, kind: str, now: float, extra: str, cold: bool
    ) -> tuple[bytes, bytes]:
        match kind:
            case "summary":
                key: tuple = (kind, int(now // 3600) * 3600)
            case "sensor":
                key = (kind, cold)
            case "command_done":
                key = (kind, extra)  # a few re-prompts a run
            case _:
                key = (kind, home.slot, home.slot_date, home.behaviour)
        cached = self._payloads.get(key)
        if cached is None:
            match kind:
                case "summary":
                    event_kind, payload = summary_payload(key[1])
                case "sensor":
                    event_kind, payload = sensor_payload(cold)
                case "command_done":
                    event_kind, payload = v1.EventKind.COMMAND_DONE, {"command_id": extra}
                case _:
                    event_kind, payload = slot_payload(home, kind)
            event = v1.Event.create(
                household_id="h", gateway_id="g", kind=event_kind, payload=payload
            )
            cached = self._payloads[key] = (_json(event_kind.value), _json(event.payload))
        return cached

    def _home(self, home: Home) -> tuple[bytes, bytes]:
        cached = self._homes.get(home.index)
        if cached is None:
            if not home.token.isascii() or not home.token.isprintable():
                raise ValueError(f"home {home.index}: a token must be printable ASCII")
            ids = b'"household_id":%s,"gateway_id":%s' % (
                _json(home.household_id),
                _json(home.gateway_id),
            )
            cached = self._homes[home.index] = (
                ids,
                b"Authorization: Bearer %s\r\n" % home.token.encode(),
            )
        return cached

    def _stamp(self, ms: int) -> bytes:
        """Epoch milliseconds as UTC ISO 8601; the seconds part formatted once a second."""
        second, milli = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return b"%s.%03dZ" % (self._second_text, milli)


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
    bodies: Bodies = field(default_factory=Bodies)
    _done_commands: set[str] = field(default_factory=set)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(10**12))
    _rng: random.Random = field(default_factory=lambda: random.Random(3))

    def run(self, start: float, end: float) -> Stats:
        """Plays the plan on uvloop in this thread; its CPU time is `stats.cpu_s`."""
        began = time.thread_time()
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(self._run(start, end))
        finally:
            self.stats.cpu_s += time.thread_time() - began
        return self.stats

    async def _run(self, start: float, end: float) -> None:
        heap = plan(self.homes, start, self.rates)
        pool = Pool(self.base_url, self.timeout_s)
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task] = set()
        try:
            while heap and heap[0][0] < end and (now := time.time()) < end + self.drain_s:
                if heap[0][0] > now:
                    await asyncio.sleep(min(heap[0][0] - now, 0.2))
                    continue
                at, _, index, kind, extra = heapq.heappop(heap)
                if slots.locked():  # every connection busy: the cloud holds them
                    await slots.acquire()
                    self.stats.connection_wait_s += time.time() - now
                else:
                    await slots.acquire()
                task = asyncio.create_task(self._send(pool, slots, heap, at, index, kind, extra))
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
        finally:
            self.stats.connects += pool.connects
            await pool.close()

    def _request(self, home: Home, kind: str, extra: str, now: float) -> tuple[str, bytes, int]:
        """(path, body, events in it) of one planned action."""
        if kind == "heartbeat":
            return HEARTBEAT_PATH, HEARTBEAT_BODY, 0
        cold = kind == "sensor" and self._rng.random() < 0.5
        return EVENTS_PATH, self.bodies.events(home, kind, now, extra, cold), 1

    async def _send(
        self,
        pool: Pool,
        slots: asyncio.Semaphore,
        heap: list[Action],
        at: float,
        index: int,
        kind: str,
        extra: str,
    ) -> None:
        home = self.homes[index]
        try:
            now = time.time()
            self.stats.behind_s.append(max(0.0, now - at))
            self.stats.starts.append(now)
            if kind in SLOT_KINDS:
                self.stats.sent_at[(index, kind)] = now
                if kind in ANSWERS and now > home.deadline:
                    self.stats.answers_sent_late += 1
            path, body, events = self._request(home, kind, extra, now)
            began = time.perf_counter()
            status, data = await pool.post(path, body, self.bodies.auth(home))
            elapsed_ms = (time.perf_counter() - began) * 1000
        except Exception as exc:  # TimeoutError, ConnectionError, ...: counted, never fatal
            self.stats.errors[type(exc).__name__] += 1
            return
        finally:
            slots.release()
        if status != 200:
            self.stats.errors[f"http_{status}"] += 1
            return
        try:
            answer = json.loads(data)
        except ValueError:
            self.stats.errors["bad_json"] += 1
            return
        if kind == "heartbeat":
            self._commands(heap, index, answer.get("commands", []))
        elif not self._acknowledged(answer, events):
            return
        self.stats.ok(kind, elapsed_ms)

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
