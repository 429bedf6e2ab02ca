"""`doctor`: one checklist of everything a working gateway needs, each with a fix hint.

Each check is a small function returning a Check; `run_checks` strings them together and
skips the ones whose prerequisite (a valid config) is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.config import ConfigError, GatewaySettings, load_config, read_token
from provisioning import audiocheck, cloudapi, gateway_paths, models
from provisioning.errors import ProvisionError
from provisioning.messages import t

MIN_FREE_BYTES = 200 * 1024 * 1024  # a model update plus weeks of outbox
MAX_CLOCK_SKEW_S = 30.0
OUTBOX_WARN = 1000
SERVICE_UNIT = "mimamori-gateway.service"
BT_SYSFS = Path("/sys/class/bluetooth")
SERVICE_STATES = {
    "active": "det_service_active",
    "inactive": "det_service_inactive",
    "failed": "det_service_failed",
}


@dataclass
class Check:
    id: str
    label: str
    status: str  # ok | fail | warn | skip
    required: bool
    detail: str = ""
    hint: str = ""

    @property
    def failed_required(self) -> bool:
        return self.required and self.status == "fail"

    def as_dict(self) -> dict:
        return asdict(self)


def _check(
    cid: str,
    ok: bool,
    detail: str,
    hint_key: str = "",
    required: bool = True,
    **hint_values: object,
) -> Check:
    return Check(
        id=cid,
        label=t(f"chk_{cid}"),
        status="ok" if ok else "fail",
        required=required,
        detail=detail,
        hint="" if ok or not hint_key else t(hint_key, **hint_values),
    )


def _skip(cid: str, why: str, required: bool = False) -> Check:
    return Check(cid, t(f"chk_{cid}"), "skip", required, t("skipped", why=why))


# --- individual checks ------------------------------------------------------------------------


def check_config(path: Path) -> tuple[Check, GatewaySettings | None]:
    try:
        settings = load_config(path)
    except ConfigError as exc:
        return _check("config", False, str(exc).splitlines()[0], "hint_config"), None
    return _check("config", True, str(path)), settings


def check_token(settings: GatewaySettings) -> tuple[Check, str | None]:
    try:
        token = read_token(settings.token_file)
    except (ConfigError, OSError) as exc:
        return _check("token", False, str(exc).splitlines()[0], "hint_token"), None
    return _check("token", True, f"{settings.token_file} (0600)"), token


def check_cloud(settings: GatewaySettings, token: str | None) -> list[Check]:
    reach = cloudapi.probe(settings.cloud_url, None, settings.ca_bundle)
    checks = [
        _check(
            "cloud",
            reach.reachable,
            settings.cloud_url if reach.reachable else f"{settings.cloud_url}: {reach.error}",
            "hint_cloud",
        )
    ]
    if token is None:
        checks.append(
            _check("token_accepted", False, t("skipped", why=t("chk_token")), "hint_token")
        )
    elif not reach.reachable:
        checks.append(_check("token_accepted", False, reach.error or "", "hint_cloud"))
    else:
        auth = cloudapi.probe(settings.cloud_url, token, settings.ca_bundle)
        ok = auth.status == 200
        detail = f"HTTP {auth.status}" + (f": {auth.detail}" if auth.detail else "")
        checks.append(_check("token_accepted", ok, detail, "hint_token_rejected"))
    checks.append(check_clock(reach.clock_skew_s))
    return checks


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_pad", ctypes.c_int * 11),
    ]


TIME_ERROR = 5
STA_UNSYNC = 0x40


def kernel_clock_synced() -> bool | None:
    """NTP sync as the kernel sees it (what timedatectl reports); None if unknown."""
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip() in ("yes", "no"):
            return out.stdout.strip() == "yes"
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:  # no systemd (containers): ask the kernel directly
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    return state != TIME_ERROR and not timex.status & STA_UNSYNC


def check_clock(skew_s: float | None) -> Check:
    synced = kernel_clock_synced()
    if synced:
        return _check("clock", True, t("det_ntp_synced"))
    unsynced = t("det_ntp_unsynced")
    if skew_s is not None and abs(skew_s) <= MAX_CLOCK_SKEW_S:
        # Not NTP-disciplined, but agrees with the cloud's clock: fine for today.
        return _check("clock", True, f"{unsynced}; {t('det_skew', skew=skew_s)}")
    detail = unsynced + (f"; {t('det_skew', skew=skew_s)}" if skew_s else "")
    return _check("clock", False, detail, "hint_clock")


def check_mqtt(settings: GatewaySettings) -> Check:
    if settings.mqtt is None:
        return _skip("mqtt", t("not_configured"))
    host, port = settings.mqtt.host, settings.mqtt.port
    error = mqtt_connect_error(host, port)
    return _check(
        "mqtt", error is None, f"{host}:{port}" + (f": {error}" if error else ""), "hint_mqtt"
    )


def mqtt_connect_error(host: str, port: int, timeout: float = 5.0) -> str | None:
    """A real MQTT CONNECT/CONNACK with paho; None when the broker accepted us."""
    import paho.mqtt.client as mqtt

    done = threading.Event()
    result: list[str | None] = ["no CONNACK"]

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        result[0] = None if not reason_code.is_failure else str(reason_code)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="mimamori-doctor")
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        return exc.strerror or str(exc)
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def check_bluetooth(settings: GatewaySettings | None) -> Check:
    adapters = sorted(p.name for p in BT_SYSFS.glob("hci*")) if BT_SYSFS.exists() else []
    required = settings is None or settings.ble_enabled
    if adapters:
        return _check("bluetooth", True, ", ".join(adapters), required=required)
    return _check(
        "bluetooth",
        False,
        t("det_no_adapter", path=BT_SYSFS),
        "hint_bluetooth",
        required=required,
    )


def check_audio(settings: GatewaySettings | None) -> list[Check]:
    audio = settings.audio if settings else None
    try:
        devices = audiocheck.list_devices()
    except ProvisionError as exc:
        return [_check(c, False, str(exc), "hint_audio") for c in ("audio_in", "audio_out")]
    checks = []
    for cid, kind, wanted in (
        ("audio_in", "input", audio.input_device if audio else None),
        ("audio_out", "output", audio.output_device if audio else None),
    ):
        channels = f"max_{kind}_channels"
        names = [d["name"] for d in devices if d.get(channels, 0) > 0]
        ok = bool(names) and audiocheck.find_device(wanted, kind)
        found = f" ({', '.join(names[:3])})" if names else f": {t('det_no_device')}"
        detail = (wanted or t("det_default_device")) + found
        checks.append(_check(cid, ok, detail, "hint_audio"))
    return checks


def daemon_model_dir(settings: GatewaySettings) -> Path | None:
    """The model directory the daemon will load: audio.model_path, else speech's default."""
    if settings.audio.model_path:
        return Path(settings.audio.model_path)
    from speech.recognition import model_dir

    try:
        return model_dir(settings.language, None)
    except FileNotFoundError:  # ModelNotFoundError: nothing configured for this language
        return None


def check_model(settings: GatewaySettings) -> Check:
    lang = settings.language
    path = daemon_model_dir(settings)
    if path is None or not path.exists():
        where = str(path) if path else t("det_no_model", lang=lang)
        return _check("model", False, where, "hint_model", lang=lang)
    try:
        models.test_load(path)
    except ProvisionError as exc:
        return _check("model", False, str(exc), "hint_model", lang=lang)
    return _check("model", True, str(path))


def check_tts(lang: str) -> Check:
    text = {"ja": "テストです。", "ko": "테스트입니다", "en": "This is a test."}[lang]
    try:
        samples, rate = audiocheck.synthesise(text, lang)
    except ProvisionError as exc:
        return _check("tts", False, str(exc), "hint_tts")
    seconds = samples.size / rate if rate else 0
    detail = t("det_speech", lang=lang, seconds=seconds)
    return _check("tts", seconds > 0.2, detail, "hint_tts")


def check_disk(data_dir: Path) -> Check:
    probe = data_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    return _check(
        "disk",
        free >= MIN_FREE_BYTES,
        t("det_disk_free", free=free / 1024**3, path=probe),
        "hint_disk",
        path=probe,
    )


def check_outbox(settings: GatewaySettings) -> Check:
    try:
        depth = gateway_paths.outbox_depth(settings)
    except Exception as exc:  # a locked or foreign file: report, do not crash the checklist
        return _check(
            "outbox",
            False,
            f"{gateway_paths.outbox_path(settings)}: {exc}",
            "hint_outbox",
            required=False,
        )
    if depth is None:
        return _check("outbox", True, t("det_no_outbox"), required=False)
    alarm = depth >= settings.outbox_capacity * 0.8
    detail = t("det_outbox_waiting", depth=depth)
    check = _check("outbox", not alarm, detail, "hint_outbox", required=alarm)
    if not alarm and depth >= OUTBOX_WARN:
        check.status, check.hint = "warn", t("hint_outbox")
    return check


def check_service() -> Check:
    try:
        out = subprocess.run(
            ["systemctl", "is-active", SERVICE_UNIT], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _check("service", False, f"systemctl: {exc}", "hint_service")
    state = out.stdout.strip() or (out.stderr.strip().splitlines() or ["unknown"])[0]
    label = t(SERVICE_STATES[state]) if state in SERVICE_STATES else state
    return _check("service", state == "active", f"{SERVICE_UNIT}: {label}", "hint_service")


# --- the checklist ----------------------------------------------------------------------------


def run_checks(config: Path, on_check: Callable[[Check], None] = lambda _c: None) -> list[Check]:
    checks: list[Check] = []

    def add(*new: Check) -> None:
        for check in new:
            checks.append(check)
            on_check(check)

    config_check, settings = check_config(config)
    add(config_check)
    if settings is None:
        why = t("chk_config")
        for cid in ("token", "token_accepted", "cloud", "clock", "mqtt"):
            add(_skip(cid, why, required=True))
        add(check_bluetooth(None), *check_audio(None))
        for cid in ("model", "tts", "outbox"):
            add(_skip(cid, why))
        add(check_disk(Path("/var/lib/mimamori")), check_service())
        return checks
    token_check, token = check_token(settings)
    add(token_check)
    add(*check_cloud(settings, token))
    add(check_mqtt(settings), check_bluetooth(settings), *check_audio(settings))
    add(check_model(settings), check_tts(settings.language), check_disk(settings.data_dir))
    add(check_outbox(settings), check_service())
    return checks


MARKS = {
    "ok": "[green]✓[/green]",
    "fail": "[red]✗[/red]",
    "warn": "[yellow]![/yellow]",
    "skip": "[dim]–[/dim]",
}
