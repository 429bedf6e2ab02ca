"""`make demo`: the whole system on embedded defaults, on this machine.

Starts the cloud on SQLite (API + escalation worker), a local mosquitto, an SMTP sink whose mail
can be read (files in demo-data/mail and a dev-only page), seeds a municipality, a post office,
staff logins and five households, and runs a simulated home for four of them (the real gateway
code with a simulated resident and simulated BTHome sensors). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from firmware_bridge.events import DeviceRole, PairedDevice
from gateway.config import GatewaySettings, MqttSettings, save_config, write_token
from gateway.state import SmallState
from mimamori_dev import mailview
from mimamori_dev.line_standin import LineStandin, line_user_id, link_contact, setup_channel
from mimamori_dev.scenario import Admin
from mimamori_dev.services import (
    VENV_BIN,
    CloudServer,
    MosquittoBroker,
    SmtpSink,
    free_port,
    stop_process,
)
from mimamori_dev.simgateway import OneShotClient, SimGateway, enroll_gateway
from mimamori_rules.schedule import SlotOccurrence
from mimamori_wire import API_PREFIX, EnrollResponse

TZ = ZoneInfo("Asia/Tokyo")
ADMIN_TOKEN = "demo-admin-token"
STAFF_PASSWORD = "mimamori-demo-2026"


@dataclass(frozen=True)
class DemoHousehold:
    name: str
    kana: str
    birth_year: int
    family: tuple[str, str, str]  # name, relationship, e-mail
    persona: dict  # mimamori_dev.simhome.Persona fields
    online: bool = True  # False: enrolled, heard from once, then unplugged
    # The alarm comes from the slot's deadline (missed check-in, offline gateway): its slot
    # began before the demo did, so the deadline falls within the demo's first two minutes.
    early_slot: bool = False
    # The family member reads alerts on LINE (the local stand-in), not by mail.
    line: bool = False


HOUSEHOLDS = [
    DemoHousehold(
        "山田 花子",
        "やまだ はなこ",
        1938,
        ("山田 美咲", "長女", "misaki@example.jp"),
        {"answers": ["はい、元気です", "はい", "飲みました"]},
    ),
    DemoHousehold(
        "佐藤 一郎",
        "さとう いちろう",
        1941,
        ("佐藤 健", "長男", "ken@example.jp"),
        {"answers": ["まあ、いつも通りやね", "はい"]},
    ),
    DemoHousehold(
        "鈴木 トメ",
        "すずき とめ",
        1933,
        ("鈴木 和子", "次女", "kazuko@example.jp"),
        {"answers": [None]},  # does not answer: a missed check-in escalates
        early_slot=True,
        line=True,
    ),
    DemoHousehold(
        "高橋 キヨ",
        "たかはし きよ",
        1936,
        ("高橋 誠", "長男", "makoto@example.jp"),
        {"answers": ["ちょっとしんどいわ"], "help_button_after_s": 45},
    ),
    DemoHousehold(
        "田中 正",
        "たなか ただし",
        1940,
        ("田中 由美", "長女", "yumi@example.jp"),
        {},
        online=False,  # the gateway is unplugged: "gateway offline", not "resident silent"
        early_slot=True,
    ),
]


# People to call (issue 14): the resident's phone, birth date, notes for visitors, the family
# member's phone and roles, and a neighbour who keeps a key. Demo numbers only.
DEMO_PEOPLE: dict[str, dict] = {
    "山田 花子": {
        "phone": "03-1234-0001",
        "birth_date": "1938-05-12",
        "family_phone": "090-1234-0001",
        "visitor_notes": "耳が遠いので、インターホンは長めに押してください",
    },
    "佐藤 一郎": {
        "phone": "03-1234-0002",
        "birth_date": "1941-09-03",
        "family_phone": "090-1234-0002",
    },
    "鈴木 トメ": {
        "phone": "03-1234-0003",
        "birth_date": "1933-01-20",
        "family_phone": "090-1234-0003",
        "visitor_notes": "犬がいます（おとなしい）",
        "key_holder": ("隣家 村上 さん", "03-1234-1003"),
    },
    "高橋 キヨ": {
        "phone": "03-1234-0004",
        "birth_date": "1936-11-02",
        "family_phone": "080-1234-0004",
        "key_holder": ("民生委員 森 さん", "03-1234-1004"),
    },
    "田中 正": {"phone": "03-1234-0005", "birth_date": "1940-07-07"},
}


# Demo speed (set on the demo municipality, like any municipality's own chains): a missed
# check-in and a silent gateway reach family and desk at their deadline, not 5-15 min later.
DEMO_CHAINS = {
    "missed_checkin": {
        "steps": [
            {"after_min": 0, "action": "reprompt"},
            {"after_min": 0, "action": "family"},
            {"after_min": 1, "action": "staff"},
            {"after_min": 10, "action": "manager"},
        ],
        "repeat": {"every_min": 10, "action": "staff_reminder"},
    },
    "gateway_offline": {
        "steps": [
            {"after_min": 0, "action": "dashboard"},
            {"after_min": 0, "action": "family"},
            {"after_min": 1, "action": "staff"},
            {"after_min": 10, "action": "manager"},
        ],
        "repeat": {"every_min": 10, "action": "staff_reminder"},
    },
}
# The shortest answer window the product allows; no grace.
WINDOW_MIN, GRACE_MIN = 5, 0
# An early slot's deadline falls this long after seeding at the soonest (slot times are whole
# minutes, so up to a minute later): time for the homes to start and for the silent gateway's
# one heartbeat to go stale (MIMAMORI_HEARTBEAT_STALE_S below).
EARLY_DEADLINE_AFTER = timedelta(seconds=40)
HEARTBEAT_STALE_S = 30
# The simulated homes count as installed this long ago, so they ask a slot that began before
# the demo did (a gateway asks only slots after it started tracking).
INSTALLED_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True)
class _DemoSlot:
    """The shape of the demo's slots, as the rule book reads a slot (no re-asks in 5 min)."""

    name: str = "demo"
    time: str = "00:00"
    window_min: int = WINDOW_MIN
    grace_min: int = GRACE_MIN
    reask_offsets_min: tuple[int, ...] = ()


def slot_to_deadline() -> timedelta:
    """How long after its slot a demo slot's deadline falls, by the rule book (the answer
    window rule keeps it after the longest dialogue, so it is more than window + grace)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    occurrence = SlotOccurrence(_DemoSlot(), at.date(), at)
    return occurrence.deadline - at


def demo_slots(seeded: datetime, first_slot_in_min: int | None = None) -> tuple[str, str]:
    """(regular slot, early slot): both HH:MM in Tokyo. The regular one began at most a minute
    ago (asked as soon as a home starts), or starts `first_slot_in_min` from now; the early
    one's deadline is 40-100 s after `seeded`."""
    now_slot = seeded.astimezone(TZ).replace(second=0, microsecond=0)
    if first_slot_in_min is not None:
        now_slot += timedelta(minutes=first_slot_in_min)
    early = (seeded + EARLY_DEADLINE_AFTER - slot_to_deadline()).astimezone(TZ)
    early = early.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return now_slot.strftime("%H:%M"), early.strftime("%H:%M")


DEMO_DEVICES = [
    ("居間の人感センサー", DeviceRole.MOTION, "居間"),
    ("寝室の温湿度計", DeviceRole.THERMOMETER, "寝室"),
    ("見守りボタン", DeviceRole.HELP_BUTTON, "居間"),
]


def _port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


class Demo:
    def __init__(
        self,
        root: Path,
        first_slot_in_min: int | None = None,
        households: list[DemoHousehold] = HOUSEHOLDS,
    ) -> None:
        self.root = root
        self.first_slot_in_min = first_slot_in_min
        self.households = households
        self.procs: list[subprocess.Popen] = []
        self.broker = MosquittoBroker(root / "mosquitto", port=_port(1883))
        self.smtp = SmtpSink(port=free_port(), maildir=root / "mail")
        # One family uses LINE through the local stand-in; its pushes show on the mail page.
        self.line = LineStandin(port=free_port(), maildir=root / "mail")
        # Linked after the homes started: seeding is on the clock of the early slot's deadline.
        self.line_links: list[tuple[str, str, str, str]] = []
        self.mail_port = _port(8025)
        self.mail_page = None
        self.cloud = CloudServer(
            f"sqlite:///{root / 'cloud.db'}",
            root / "cloud",
            port=_port(8000),
            env={
                "MIMAMORI_ADMIN_TOKEN": ADMIN_TOKEN,
                "MIMAMORI_SECRET_KEY": "demo-secret-key-change-me-in-production",
                "MIMAMORI_SMTP_HOST": self.smtp.host,
                "MIMAMORI_SMTP_PORT": str(self.smtp.port),
                "MIMAMORI_LINE_API_BASE": self.line.base_url,
                "MIMAMORI_HEARTBEAT_STALE_S": str(HEARTBEAT_STALE_S),
                "MIMAMORI_COOKIE_SECURE": "false",
            },
        )

    # --- services ------------------------------------------------------------------------

    def start_services(self) -> None:
        self.broker.start()
        self.smtp.start()
        self.line.start()
        self.mail_page = mailview.serve(self.root / "mail", "127.0.0.1", self.mail_port)
        self.cloud.start()
        log = open(self.root / "worker.log", "ab")  # noqa: SIM115 (lives with the process)
        self.procs.append(
            subprocess.Popen(
                [str(VENV_BIN / "mimamori-cloud"), "worker", "--interval", "1"],
                env=self.cloud.full_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.cloud.stop()
        if self.mail_page is not None:
            self.mail_page.shutdown()
        self.smtp.stop()
        self.line.stop()
        self.broker.stop()

    # --- seed ----------------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict | list | None = None) -> dict:
        response = httpx.request(
            method,
            f"{self.cloud.base_url}{API_PREFIX}/admin{path}",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def seed(self) -> tuple[str, list[tuple[DemoHousehold, str]]]:
        cli = self.cloud.cli_id
        muni = cli("create-municipality", "--name", "さくら市")
        office = cli(
            "create-office",
            "--municipality",
            muni,
            "--name",
            "さくら中央郵便局",
            "--phone",
            "0120-000-310",
            "--email",
            "desk@sakura-post.example.jp",
        )
        self.cloud.cli(
            "create-admin",
            "--email",
            "admin@sakura.example.jp",
            "--password",
            STAFF_PASSWORD,
            "--name",
            "市役所 管理者",
            "--role",
            "municipality_admin",
            "--municipality",
            muni,
        )
        self.cloud.cli(
            "create-staff",
            "--email",
            "staff@sakura-post.example.jp",
            "--password",
            STAFF_PASSWORD,
            "--office",
            office,
            "--name",
            "郵便局 職員",
        )
        self.api("PUT", f"/municipalities/{muni}/escalation-chains", DEMO_CHAINS)
        # wall clock: the demo runs live
        now_slot, early_slot = demo_slots(datetime.now(TZ), self.first_slot_in_min)
        households = []
        for index, hh in enumerate(self.households):
            people = DEMO_PEOPLE.get(hh.name, {})
            household = self.api(
                "POST",
                "/households",
                {
                    "office_id": office,
                    "resident_name": hh.name,
                    "kana": hh.kana,
                    "birth_year": hh.birth_year,
                    # demo speed: the shortest answer window the product allows
                    "slots": [
                        {
                            "time": early_slot if hh.early_slot else now_slot,
                            "window_min": WINDOW_MIN,
                            "grace_min": GRACE_MIN,
                        }
                    ],
                    "address": f"さくら市中央{index + 1}丁目",
                    "phone": people.get("phone"),
                    "birth_date": people.get("birth_date"),
                    "visitor_notes": people.get("visitor_notes"),
                },
            )
            name, relationship, email = hh.family
            contact = self.api(
                "POST",
                f"/households/{household['id']}/contacts",
                {
                    "name": name,
                    "email": email,
                    "relationship": relationship,
                    "phone": people.get("family_phone"),
                    "roles": ["family", "emergency"],
                    "daily_report": index == 0,
                },
            )
            if "key_holder" in people:
                holder, phone = people["key_holder"]
                roles = ["key_holder"] + (["welfare_volunteer"] if "民生委員" in holder else [])
                self.api(
                    "POST",
                    f"/households/{household['id']}/contacts",
                    {"name": holder, "phone": phone, "roles": roles},
                )
            households.append((hh, household["id"]))
            if hh.line:
                self.line_links.append((muni, office, contact["id"], name))
        return f"{now_slot} (early: {early_slot})", households

    def link_line(self, municipality: str, office: str, contact_id: str, name: str) -> None:
        """The office's LINE channel on the stand-in; the first family links by its code."""
        with httpx.Client(base_url=self.cloud.base_url, timeout=30) as http:
            admin = Admin(http, ADMIN_TOKEN)
            if not admin.call("GET", "/line-channels"):
                setup_channel(admin, municipality, office, self.line)
            user = line_user_id(len(self.line.users))
            link_contact(http, admin, contact_id, user, self.line, name)
            # LINE and mail both: the mail page shows the two side by side.
            admin.call("PUT", f"/contacts/{contact_id}/channels", json={"channel_pref": "both"})

    # --- simulated homes -----------------------------------------------------------------

    def issue_code(self, household_id: str) -> str:
        """An installer's enrollment code, through the admin API (a CLI run costs seconds
        on a busy machine, and the unplugged gateway's heartbeat is on the clock)."""
        return str(self.api("POST", f"/households/{household_id}/enrollment-codes")["code"])

    def enroll(self, household_id: str, hardware_id: str) -> EnrollResponse:
        code = self.issue_code(household_id)
        return enroll_gateway(
            OneShotClient(self.cloud.base_url),
            code,
            hardware_id=hardware_id,
            software_version="demo",
        )

    def unplugged_home(self, index: int, household_id: str) -> None:
        """A gateway that was installed (enrolled, heard from once) and then unplugged."""
        code = self.issue_code(household_id)
        gateway = SimGateway.enroll(
            OneShotClient(self.cloud.base_url),
            code,
            hardware_id=f"demo-pi-{index + 1:02d}",
            software_version="demo",
        )
        gateway.heartbeat()

    def start_home(self, index: int, hh: DemoHousehold, household_id: str) -> None:
        home = self.root / "homes" / f"home{index + 1}"
        home.mkdir(parents=True, exist_ok=True)
        (home / "data").mkdir(exist_ok=True)
        state = SmallState(home / "data" / "state.json")  # installed earlier today
        # wall clock: the demo runs live
        state.update(tracking_since=(datetime.now(TZ) - INSTALLED_BEFORE).isoformat())
        state.close()
        enrolled = self.enroll(household_id, f"demo-pi-{index + 1:02d}")
        token_file = home / "token"
        write_token(token_file, enrolled.token)
        mac = f"A4:C1:38:00:{index + 1:02X}"
        devices = [
            PairedDevice(
                name=name,
                transport="ble",
                address=f"{mac}:{n:02X}",
                role=role,
                room=room,
                bindkey=os.urandom(16).hex(),
            )
            for n, (name, role, room) in enumerate(DEMO_DEVICES, start=1)
        ]
        settings = GatewaySettings(
            cloud_url=self.cloud.base_url,
            gateway_id=enrolled.gateway_id,
            household_id=enrolled.household_id,
            token_file=token_file,
            data_dir=home / "data",
            voice_mode="text-sim",
            ble_enabled=False,  # no radio here: the simulator feeds the real decoder
            mqtt=MqttSettings(host=self.broker.host, port=self.broker.port),
            devices=devices,
            heartbeat_interval_s=15,
            max_backoff_s=10,
        )
        config = home / "gateway.json"
        save_config(settings, config)
        persona = home / "persona.json"
        persona.write_text(json.dumps({**hh.persona, "seed": index}, ensure_ascii=False))
        log = open(home / "gateway.log", "ab")  # noqa: SIM115 (lives with the process)
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mimamori_dev.simhome",
                    "--config",
                    str(config),
                    "--persona",
                    str(persona),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def banner(self, demo_slot: str) -> str:
        return f"""
==============================================================================
 Mimamori demo is running (embedded defaults: cloud on SQLite, simulated homes)
------------------------------------------------------------------------------
 Staff dashboard   {self.cloud.base_url}/
   staff login     staff@sakura-post.example.jp / {STAFF_PASSWORD}  (さくら中央郵便局)
   admin login     admin@sakura.example.jp / {STAFF_PASSWORD}  (さくら市)
 Mail (dev only)   http://127.0.0.1:{self.mail_port}/   files: {self.root / "mail"}
 MQTT broker       {self.broker.host}:{self.broker.port}
 Logs              {self.root}/homes/*/gateway.log, {self.root}/worker.log

 Demo check-in slots {demo_slot} (Asia/Tokyo), answer window 5 min. Within two
 minutes every alarm kind reaches the desk and the family's inbox:
   山田 花子  answers 「はい、元気です」            -> 元気, no alarm
   佐藤 一郎  answers 「まあ、いつも通りやね」      -> いつも通り, no alarm
   高橋 キヨ  answers 「ちょっとしんどいわ」        -> unwell: family + staff at once
              long-presses the help button (~45 s)  -> help: family + staff at once
   鈴木 トメ  does not answer (early slot)          -> missed check-in at its deadline
   田中 正    gateway unplugged after installation  -> "gateway offline", not "resident silent"
 Residents are the TEXT-ANSWER SIMULATOR; sensors are simulated BTHome frames
 decoded by the real bridge. Press Ctrl-C to stop everything.
==============================================================================
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Mimamori demo.")
    parser.add_argument("--dir", type=Path, default=Path("demo-data"))
    parser.add_argument(
        "--first-slot-in-min",
        type=int,
        default=None,
        help="regular slot this many minutes from now (default: the current minute)",
    )
    parser.add_argument("--exit-after", type=float, default=None, help="seconds (for tests)")
    args = parser.parse_args(argv)
    root = args.dir.resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    demo = Demo(root, args.first_slot_in_min)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        demo.start_services()
        demo_slot, households = demo.seed()
        # The unplugged gateway's one heartbeat first: it must be stale (HEARTBEAT_STALE_S)
        # by its early slot's deadline, or the family hears "no answer" about a resident the
        # gateway never asked instead of "the gateway is silent".
        for index, (hh, household_id) in enumerate(households):
            if not hh.online:
                demo.unplugged_home(index, household_id)
        for index, (hh, household_id) in enumerate(households):
            if hh.online:
                demo.start_home(index, hh, household_id)
        for link in demo.line_links:
            demo.link_line(*link)
        print(demo.banner(demo_slot), flush=True)
        started = time.monotonic()
        while not stop:
            if args.exit_after is not None and time.monotonic() - started > args.exit_after:
                break
            time.sleep(0.2)
    finally:
        print("stopping the demo ...", flush=True)
        with contextlib.suppress(Exception):
            demo.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
