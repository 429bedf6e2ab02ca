"""Simulated homes over the real gateway HTTP API, for scenario tests and the e2e benchmark.

Each home's uplink is a `mimamori_dev.simgateway.SimGateway` (outbox, batches, retries,
heartbeats, commands); this module seeds the cloud through its admin API and drives a
time-compressed month of homes, worker passes and staff.

The expected escalation helpers are deliberately written from ARCHITECTURE.md section 4
(and the documented gateway-offline chain), not imported from the cloud, so the scenario
tests compare the cloud against an independent statement of what should happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from mimamori_dev.simgateway import HttpClient, SimGateway
from mimamori_wire import v1

ADMIN_PREFIX = f"{v1.API_PREFIX}/admin"


@dataclass
class Admin:
    """The authenticated JSON admin API (bearer admin token)."""

    http: HttpClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        response = getattr(self.http, method.lower())(
            f"{ADMIN_PREFIX}{path}", headers=self.headers, **kw
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()


@dataclass
class Tenancy:
    municipality_id: str
    office_id: str


def seed_area(admin: Admin, name: str = "横浜市") -> Tenancy:
    muni = admin.call("POST", "/municipalities", json={"name": name, "email": "city@example.jp"})
    office = admin.call(
        "POST",
        "/offices",
        json={
            "municipality_id": muni["id"],
            "name": "港北郵便局",
            "phone": "045-000-1111",
            "email": "office@example.jp",
            "manager_email": "boss@example.jp",
        },
    )
    return Tenancy(muni["id"], office["id"])


def seed_household(
    admin: Admin, office_id: str, index: int, slots: Iterable[str], contacts: int = 1
) -> str:
    household = admin.call(
        "POST",
        "/households",
        json={
            "office_id": office_id,
            "resident_name": f"見守り 太郎{index}",
            "kana": "みまもり たろう",
            "address": f"横浜市港北区{index}丁目",
            "slots": [{"time": t} for t in slots],
        },
    )
    for n in range(contacts):
        admin.call(
            "POST",
            f"/households/{household['id']}/contacts",
            json={
                "name": f"家族{index}-{n}",
                "email": family_email(index, n),
                "relationship": "長男",
            },
        )
    return household["id"]


def family_email(index: int, n: int = 0) -> str:
    return f"family{index}-{n}@example.jp"


def enroll(http: HttpClient, admin: Admin, household_id: str, name: str = "sim") -> SimGateway:
    """Issue a code through the admin API and enroll a simulated gateway with it."""
    code = admin.call("POST", f"/households/{household_id}/enrollment-codes")["code"]
    return SimGateway.enroll(http, code, hardware_id=name, software_version="sim")


# --- what should happen, from the specification ----------------------------------------------

# ARCHITECTURE.md section 4 (missed check-in, help, unwell) and the cloud's documented
# gateway-offline chain: (minutes after the base time, action); then a reminder every hour.
SPEC_CHAINS: dict[str, list[tuple[int, str]]] = {
    "missed_checkin": [(0, "reprompt"), (5, "family"), (15, "staff"), (60, "manager")],
    "gateway_offline": [(0, "dashboard"), (15, "family"), (30, "staff"), (90, "manager")],
    "help_requested": [(0, "family"), (0, "staff"), (60, "manager")],
    "unwell": [(0, "family"), (0, "staff"), (60, "manager")],
}
REMINDER_EVERY = timedelta(minutes=60)


@dataclass(frozen=True)
class ExpectedStep:
    index: int
    action: str
    due_at: datetime


def steps_run(cause: str, base: datetime, last_pass: datetime) -> list[ExpectedStep]:
    """Steps of the spec chain due at or before the last worker pass before the incident
    stopped (acknowledged or resolved)."""
    spec = SPEC_CHAINS[cause]
    steps = [ExpectedStep(i, a, base + timedelta(minutes=m)) for i, (m, a) in enumerate(spec)]
    due = base + timedelta(minutes=spec[-1][0]) + REMINDER_EVERY
    while due <= last_pass:
        steps.append(ExpectedStep(len(steps), "staff_reminder", due))
        due += REMINDER_EVERY
    return [s for s in steps if s.due_at <= last_pass]


@dataclass(frozen=True)
class Recipients:
    family: tuple[str, ...]
    office_id: str
    office_email: str = "office@example.jp"
    manager_emails: tuple[str, ...] = ("boss@example.jp", "city@example.jp")


def step_notifications(step: ExpectedStep, to: Recipients) -> list[tuple[str, str]]:
    """(recipient, channel) rows the notification log must hold for this step."""
    office = f"office:{to.office_id}"
    if step.action == "reprompt":
        return [("gateway", "gateway")]
    if step.action == "dashboard":
        return [(office, "dashboard")]
    if step.action == "family":
        return [(address, "email") for address in to.family]
    if step.action in ("staff", "staff_reminder"):
        return [(office, "dashboard"), (to.office_email, "email")]
    if step.action == "manager":
        return [(address, "email") for address in to.manager_emails]
    raise ValueError(step.action)


# --- a time-compressed month -------------------------------------------------------------------


class Worker(Protocol):
    def run_pass(self) -> Any: ...


class Sink(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> Any: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...

    def set(self, when: datetime) -> None: ...


TICK = timedelta(minutes=5)
DAY_START = timedelta(hours=7)  # local time of the first tick of a simulated day
RESOLVE_AT = timedelta(hours=11, minutes=15)  # staff close whatever is still open
CATCH_UP = (timedelta(hours=12), timedelta(hours=15), timedelta(hours=20))  # mail retries
SLOT_TIMES = ("07:30", "08:00", "08:30")
SLOT_SPAN = timedelta(minutes=35)  # default window 30 + grace 5
# Heartbeats, compressed: one when the slot's dialogue starts (the cloud must see the gateway
# alive before the deadline) and one after the deadline (to fetch re-prompt commands); a real
# gateway sends one every 60 s. The scenario sets heartbeat_stale_s to match (40 min).
HEARTBEAT_AFTER = timedelta(minutes=10)
# Shares of a home-day: most residents answer; each kind of trouble is present every day.
OUTCOMES = (
    ("fine", 0.80),
    ("unwell", 0.03),
    ("no_response", 0.04),
    ("silent", 0.03),
    ("late", 0.03),
    ("outage", 0.07),
)


# The resident did not answer in time; with a stale heartbeat it is the gateway that is silent.
MISS_CAUSE = {
    "no_response": "missed_checkin",
    "silent": "missed_checkin",
    "late": "missed_checkin",
    "outage": "gateway_offline",
}


@dataclass
class Home:
    index: int
    gateway: SimGateway
    slot: str
    recipients: Recipients


def deadline_of(home: Home, midnight: datetime) -> datetime:
    hours, minutes = (int(p) for p in home.slot.split(":"))
    return midnight + timedelta(hours=hours, minutes=minutes) + SLOT_SPAN


@dataclass
class HomeDay:
    """What really happens in one home on one day (the simulated truth)."""

    outcome: str
    answer_at: datetime | None = None  # when the resident answers (fine, unwell, late, outage)
    no_response_at: datetime | None = None  # when the gateway gives up asking
    back_at: datetime | None = None  # outage: when the gateway is online again
    help_at: datetime | None = None
    device_fail_at: datetime | None = None


@dataclass
class ExpectedIncident:
    household_id: str
    cause: str
    day: Any  # local date
    base: datetime
    last_pass: datetime | None = None  # set when the incident stops
    late_answer: bool = False


@dataclass
class MonthSimulation:
    """Drives homes, the worker and the SMTP server on one settable clock, tick by tick.

    Order within a tick: gateways act (heartbeats, uploads), then one worker pass, then staff
    act. So an upload that resolves an incident stops it before that tick's pass, staff
    resolution after it: `ExpectedIncident.last_pass` follows from that.
    """

    http: HttpClient
    admin: Admin
    clock: Clock
    worker: Worker
    smtp: Sink
    zone: Any  # ZoneInfo
    rng: Any  # random.Random
    homes: list[Home] = field(default_factory=list)
    expected: dict[tuple[str, str, Any], ExpectedIncident] = field(default_factory=dict)
    smtp_down_ticks: int = 0
    resends: int = 0
    lost_responses: int = 0
    passes: int = 0

    def __post_init__(self) -> None:
        self._seen: set[str] = set()

    def seed(self, count: int) -> None:
        area = seed_area(self.admin)
        self.office_id = area.office_id
        for index in range(count):
            slot = SLOT_TIMES[index % len(SLOT_TIMES)]
            contacts = 1 + index % 2
            household_id = seed_household(self.admin, area.office_id, index, [slot], contacts)
            gateway = enroll(self.http, self.admin, household_id, f"pi-{index}")
            family = tuple(family_email(index, n) for n in range(contacts))
            self.homes.append(Home(index, gateway, slot, Recipients(family, area.office_id)))

    # -- truth ------------------------------------------------------------------------------

    def _plan(self, home: Home, midnight: datetime) -> HomeDay:
        deadline = deadline_of(home, midnight)
        slot_at = deadline - SLOT_SPAN
        roll, outcome = self.rng.random(), OUTCOMES[-1][0]
        for name, share in OUTCOMES:
            if roll < share:
                outcome = name
                break
            roll -= share
        day = HomeDay(outcome)
        if outcome in ("fine", "unwell"):
            day.answer_at = slot_at + TICK * self.rng.randint(0, 5)
        elif outcome == "no_response":
            day.no_response_at = slot_at + TICK * 5
        elif outcome == "late":
            day.no_response_at = slot_at + TICK * 5
            day.answer_at = deadline + TICK * self.rng.randint(1, 16)
        elif outcome == "outage":
            day.back_at = deadline + TICK * self.rng.randint(2, 24)
            if self.rng.random() < 0.5:
                day.answer_at = slot_at + TICK * self.rng.randint(0, 4)
            else:
                day.no_response_at = slot_at + TICK * 5
        if outcome != "outage" and self.rng.random() < 0.02:
            day.help_at = midnight + DAY_START + TICK * self.rng.randint(0, 36)
        if self.rng.random() < 0.04:
            day.device_fail_at = midnight + DAY_START + TICK * self.rng.randint(0, 40)
        return day

    # -- running ----------------------------------------------------------------------------

    def run_day(self, local_day: Any, smtp_outage: tuple[timedelta, timedelta] | None) -> None:
        midnight = datetime.combine(local_day, time.min, tzinfo=self.zone)
        plans = {home.index: self._plan(home, midnight) for home in self.homes}
        ticks = int((RESOLVE_AT - DAY_START) / TICK) + 1
        for n in range(ticks):
            now = midnight + DAY_START + TICK * n
            self.clock.set(now)
            self._smtp(midnight, now, smtp_outage)
            for home in self.homes:
                deadline = deadline_of(home, midnight)
                if now == deadline:
                    self._expect_miss(home, plans[home.index], local_day, now)
                self._home_tick(home, plans[home.index], local_day, now, deadline)
            self._pass()
            if now - midnight == RESOLVE_AT:
                self._staff_resolve(now)
        for offset in CATCH_UP:
            self.clock.set(midnight + offset)
            self._smtp(midnight, midnight + offset, smtp_outage)
            self._pass()

    def _smtp(self, midnight: datetime, now: datetime, outage: tuple | None) -> None:
        down = outage is not None and midnight + outage[0] <= now < midnight + outage[1]
        running = getattr(self.smtp, "running", True)
        if down and running:
            self.smtp.stop()
        elif not down and not running:
            self.smtp.start()
        if down:
            self.smtp_down_ticks += 1

    def _pass(self) -> None:
        self.worker.run_pass()
        self.passes += 1

    def _home_tick(
        self, home: Home, day: HomeDay, local_day: Any, now: datetime, deadline: datetime
    ) -> None:
        gw = home.gateway
        online = day.back_at is None or now >= day.back_at
        slot, slot_date = home.slot, local_day.isoformat()
        if day.answer_at == now:
            intent = (
                v1.Intent.UNWELL
                if day.outcome == "unwell"
                else self.rng.choice([v1.Intent.FINE, v1.Intent.USUAL])
            )
            answered = v1.CheckinAnswered(
                slot=slot, slot_date=slot_date, intent=intent, confidence=0.9, attempts=1
            )
            gw.record(v1.EventKind.CHECKIN_ANSWERED, answered, now)
        if day.no_response_at == now:
            silent = v1.CheckinNoResponse(slot=slot, slot_date=slot_date, attempts=3)
            gw.record(v1.EventKind.CHECKIN_NO_RESPONSE, silent, now)
        if day.help_at == now:
            gw.record(
                v1.EventKind.HELP_REQUESTED, v1.HelpRequested(source=v1.AnswerSource.BUTTON), now
            )
        if day.device_fail_at == now:
            device = f"door-{home.index}"
            gw.record(v1.EventKind.DEVICE_SILENT, v1.DeviceStatus(device=device, role="door"), now)
            low = v1.DeviceStatus(device=device, role="door", battery_pct=3)
            gw.record(v1.EventKind.DEVICE_BATTERY_LOW, low, now)
        if not online:
            return
        if now in (deadline - SLOT_SPAN, deadline + HEARTBEAT_AFTER) or day.back_at == now:
            gw.finish_commands(gw.heartbeat().commands, now)
            self._expect_back(home, now)
        if gw.outbox:
            self._upload(home, day, local_day, now)

    def _upload(self, home: Home, day: HomeDay, local_day: Any, now: datetime) -> None:
        fresh = list(home.gateway.outbox)
        roll = self.rng.random()
        lose, resend = roll < 0.04, 0.04 <= roll < 0.10
        self.lost_responses += lose
        self.resends += resend
        already = set(home.gateway.acknowledged)
        home.gateway.upload(lose_response=lose, resend=resend)
        # The cloud has these events now (even when we lost its answer): note what they start.
        for event in fresh:
            if event.id in already or event.id in self._seen:
                continue
            self._seen.add(event.id)
            self._expect_from(home, day, local_day, event, now)

    def _expect_from(
        self, home: Home, day: HomeDay, local_day: Any, event: v1.Event, now: datetime
    ) -> None:
        hid = home.gateway.household_id
        if event.kind == v1.EventKind.HELP_REQUESTED:
            self._open(hid, "help_requested", local_day, now)
        elif event.kind == v1.EventKind.CHECKIN_ANSWERED:
            if event.payload["intent"] == "unwell":
                self._open(hid, "unwell", local_day, now)
            for cause in ("missed_checkin", "gateway_offline"):
                late = self.expected.get((hid, cause, local_day))
                if late is not None and late.last_pass is None:
                    late.last_pass, late.late_answer = now - TICK, True
        elif (
            event.kind == v1.EventKind.CHECKIN_NO_RESPONSE
            and (hid, "gateway_offline", local_day) in self.expected
        ):
            # Asked while the uplink was down and nobody answered: once the cloud hears of
            # it, the slot is a missed check-in after all, escalating from now.
            self._open(hid, "missed_checkin", local_day, now)

    def _expect_back(self, home: Home, now: datetime) -> None:
        """A heartbeat closes an open gateway-offline incident before this tick's pass, and
        everyone mailed about it gets one follow-up mail (like a late answer)."""
        for expected in self.expected.values():
            if (
                expected.household_id == home.gateway.household_id
                and expected.cause == "gateway_offline"
                and expected.last_pass is None
            ):
                expected.last_pass, expected.late_answer = now - TICK, True

    def _open(self, household_id: str, cause: str, local_day: Any, base: datetime) -> None:
        self.expected[(household_id, cause, local_day)] = ExpectedIncident(
            household_id, cause, local_day, base
        )

    def _expect_miss(self, home: Home, day: HomeDay, local_day: Any, now: datetime) -> None:
        """At a slot's deadline: what the truth says the cloud must conclude."""
        cause = MISS_CAUSE.get(day.outcome)
        if cause is not None:
            self._open(home.gateway.household_id, cause, local_day, now)

    def _staff_resolve(self, now: datetime) -> None:
        for incident in self.admin.call(
            "GET", "/incidents", params={"state": "open", "limit": 1000}
        ):
            self.admin.call(
                "POST",
                f"/incidents/{incident['id']}/resolve",
                json={"outcome": "safe", "note": "訪問で確認しました"},
            )
        for expected in self.expected.values():
            if expected.last_pass is None:
                expected.last_pass = now
