"""Prometheus /metrics for the gateway, read from the daemon's own counters at scrape time.

Bound to loopback by default: a home network is not a monitoring network; a node exporter or
an SSH tunnel from support reaches it. Nothing is counted twice: the collector only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

StatusSource = Callable[[], dict[str, Any]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


_OUTBOX_GAUGES = {"depth", "capacity", "alarm", "bytes_per_event", "quarantined"}


class GatewayCollector(Collector):
    def __init__(self, status: StatusSource) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        info = self.status()
        outbox = info.get("outbox") or {}
        uplink = info.get("uplink") or {}

        for key in ("depth", "capacity", "alarm", "bytes_per_event"):
            gauge = GaugeMetricFamily(f"mimamori_gateway_outbox_{key}", f"Outbox {key}")
            gauge.add_metric([], _number(outbox.get(key)) or 0.0)
            yield gauge

        quarantine = GaugeMetricFamily(
            "mimamori_gateway_quarantined_events",
            "Events the cloud kept refusing, kept in the local quarantine (never sent again)",
        )
        quarantine.add_metric([], _number(outbox.get("quarantined")) or 0.0)
        yield quarantine

        outbox_family = CounterMetricFamily(
            "mimamori_gateway_outbox",
            "Outbox counters (committed, deleted, evicted, bytes written, errors)",
            labels=["counter"],
        )
        for key, value in sorted(outbox.items()):
            number = _number(value)
            if number is not None and key not in _OUTBOX_GAUGES:
                outbox_family.add_metric([key], number)
        yield outbox_family

        uplink_family = CounterMetricFamily(
            "mimamori_gateway_uplink",
            "Uplink counters (batches, events, failures)",
            labels=["counter"],
        )
        for key, value in sorted(uplink.items()):
            number = _number(value)
            if number is not None and key not in {"next_retry_s", "suspects", "deferred"}:
                uplink_family.add_metric([key], number)
        yield uplink_family

        events = CounterMetricFamily(
            "mimamori_gateway_events",
            "Daemon counters (dialogues, errors, bad input)",
            labels=["counter"],
        )
        for key, value in sorted((info.get("counters") or {}).items()):
            events.add_metric([key], float(value))
        yield events

        battery = GaugeMetricFamily(
            "mimamori_gateway_device_battery_percent",
            "Battery of paired devices",
            labels=["device"],
        )
        silent = GaugeMetricFamily(
            "mimamori_gateway_device_silent",
            "1 when a paired device went silent",
            labels=["device"],
        )
        for dev in info.get("devices") or []:
            if dev.get("battery_pct") is not None:
                battery.add_metric([dev["device"]], float(dev["battery_pct"]))
            silent.add_metric([dev["device"]], 1.0 if dev.get("silent") else 0.0)
        yield battery
        yield silent

        synced = GaugeMetricFamily(
            "mimamori_gateway_clock_synchronized", "1 when the kernel clock is NTP-synchronised"
        )
        synced.add_metric([], 1.0 if info.get("clock_synchronized") else 0.0)
        yield synced


def registry_for(status: StatusSource) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(status))
    return registry


def serve_metrics(status: StatusSource, port: int, host: str = "127.0.0.1") -> Any:
    """Start the exporter thread; returns the server (call .shutdown() to stop)."""
    server, _thread = start_http_server(port, addr=host, registry=registry_for(status))
    return server
