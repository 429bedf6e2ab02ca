"""Prometheus counters, exposed at /metrics (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REJECTED = Counter(
    "mimamori_rejected_total",
    "Gateway API input rejected, by reason (invalid_token, invalid_event, oversize, ...)",
    ["reason"],
)
EVENTS = Counter("mimamori_events_total", "Gateway events received, by result", ["result"])
INGEST_TIME_RESTAMPED = Counter(
    "mimamori_ingest_time_restamped_total",
    "Urgent events stored as arriving now because their gateway clock was out of range",
    ["kind"],
)
INCIDENTS_OPENED = Counter("mimamori_incidents_opened_total", "Incidents opened", ["cause"])
STEPS_RUN = Counter("mimamori_escalation_steps_total", "Escalation steps run", ["action"])
MAILS = Counter("mimamori_mails_total", "Outbox mail delivery attempts, by result", ["result"])
MAIL_FAILED = Counter(
    "mimamori_mail_failed_total",
    "Outbox mails given up for good, by reason (address, build, smtp_5xx, smtp_unsupported, "
    "max_attempts)",
    ["reason"],
)
MAIL_LEASES_TAKEN_OVER = Counter(
    "mimamori_mail_leases_taken_over_total",
    "Mails whose send lease ran out (worker died or stalled) and another worker took over",
)
WATCH_PASSES = Counter("mimamori_worker_passes_total", "Completed worker passes, by loop", ["loop"])
DEADMAN_PINGS = Counter(
    "mimamori_deadman_pings_total", "Dead-man's-switch pings after a pass, by result", ["result"]
)
DETECTION_LAG = Histogram(
    "mimamori_detection_lag_seconds",
    "Deadline to incident (or to 'answered' verdict) in the detection worker",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
GATEWAYS_BACK = Counter(
    "mimamori_gateways_back_total", "Gateway-offline incidents closed by a new heartbeat"
)
RETENTION_ROWS = Counter(
    "mimamori_retention_rows_total",
    "Rows deleted by the retention pass, by rule (heartbeats, events, mail, notifications; "
    "transcripts: events whose speech text was removed)",
    ["rule"],
)
