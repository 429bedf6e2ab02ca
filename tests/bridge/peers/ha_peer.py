"""A real Home Assistant core with its MQTT integration, for the interop tests.

Run with .venv-peers/bin/python (scripts/peers_venv.sh), never the product's venv:
    ha_peer.py --port 1883 --http-port 8123 --config-dir /tmp/ha
It writes a config dir with one MQTT config entry (discovery on) for the given broker, starts
Home Assistant, and prints one JSON object per line on stdout:
    {"ready": true}                       once Home Assistant has started
    {"entity_id", "unique_id", "state", "attributes"}   every state change
    {"log": level, "logger", "message"}   every WARNING or worse from HA
    {"validated": [{"topic", "ok", "error", "config"}]}  answer to a "validate" command
Commands, one JSON object per stdin line:
    {"validate": [[topic, payload], ...]}  check discovery documents with the MQTT platforms'
                                           own DISCOVERY_SCHEMA (after HA's abbreviations)
End of stdin stops Home Assistant.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from homeassistant import bootstrap, runner
from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.helpers import entity_registry

ENTRY = {
    "entry_id": "mimamori_peer",
    "version": 1,
    "minor_version": 1,
    "domain": "mqtt",
    "title": "mosquitto",
    "options": {},
    "source": "user",
    "unique_id": None,
    "disabled_by": None,
    "pref_disable_new_entities": False,
    "pref_disable_polling": False,
}


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class ForwardLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        emit({"log": record.levelname, "logger": record.name, "message": record.getMessage()})


def write_config(config_dir: Path, host: str, port: int, http_port: int) -> None:
    (config_dir / ".storage").mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n  name: peer\n  time_zone: Asia/Tokyo\n  unit_system: metric\n"
        "  latitude: 35.68\n  longitude: 139.76\n  elevation: 40\n  country: JP\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {http_port}\n",
        encoding="utf-8",
    )
    data = {"broker": host, "port": port, "discovery": True, "discovery_prefix": "homeassistant"}
    entries = {
        "version": 1,
        "minor_version": 1,
        "key": "core.config_entries",
        "data": {"entries": [{**ENTRY, "data": data}]},
    }
    (config_dir / ".storage" / "core.config_entries").write_text(json.dumps(entries))


def expand_abbreviations(payload: dict[str, Any]) -> dict[str, Any]:
    """What homeassistant.components.mqtt.discovery does before the platform schema."""
    out = {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}
    if isinstance(out.get("device"), dict):
        out["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    return out


def validate(messages: list[list[str]]) -> list[dict[str, Any]]:
    results = []
    for topic, raw in messages:
        component = topic.split("/")[1]
        try:
            schema = importlib.import_module(f"homeassistant.components.mqtt.{component}")
            config = schema.DISCOVERY_SCHEMA(expand_abbreviations(json.loads(raw)))
        except Exception as exc:  # the answer is the error text
            results.append({"topic": topic, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        simple = (str, int, float, bool)
        plain = {k: v if isinstance(v, simple) else str(v) for k, v in config.items()}
        results.append({"topic": topic, "ok": True, "error": None, "config": plain})
    return results


async def main(args: argparse.Namespace) -> None:
    config_dir = Path(args.config_dir)
    write_config(config_dir, args.host, args.port, args.http_port)
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(config_dir=str(config_dir), skip_pip=True)
    )
    if hass is None:
        emit({"failed": "Home Assistant did not set up"})
        return
    logging.getLogger().addHandler(ForwardLogs(logging.WARNING))
    registry = entity_registry.async_get(hass)

    def on_change(event: Any) -> None:
        new = event.data.get("new_state")
        if new is None:
            return
        entry = registry.async_get(new.entity_id)
        emit(
            {
                "entity_id": new.entity_id,
                "unique_id": entry.unique_id if entry else None,
                "state": new.state,
                "attributes": dict(new.attributes),
            }
        )

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    await hass.async_start()
    emit({"ready": True})
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "validate" in command:
            emit({"validated": validate(command["validate"])})
    await hass.async_stop()
    emit({"stopped": True})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--config-dir", required=True)
    asyncio.run(main(parser.parse_args()))
