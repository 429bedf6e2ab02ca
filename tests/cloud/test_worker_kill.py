"""Worker failover (issue 13, finding 6): kill -9 one of two real `mimamori-cloud worker`
processes while alarm mails flow; the other takes the dead worker's mail over after one short
lease: nothing lost, nothing sent twice. bench/worker_kill.py measures the same at 200 mails."""

from __future__ import annotations

import pytest

from cloud.migrations import upgrade_head
from mimamori_dev.smtp_faults import FaultySmtpSink
from mimamori_dev.worker_kill import run_kill_trial

LEASE_S = 3.0


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_killed_workers_mail_is_taken_over_once_and_nothing_is_lost(
    request, tmp_path, database
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if database == "postgres"
        else f"sqlite:///{tmp_path}/kill.db"
    )
    upgrade_head(url)
    # 0.3 s per RCPT: the victim is killed while the server is still checking the recipient
    # of the mail it holds, before any DATA (the one case SMTP lets us get exactly right).
    sink = FaultySmtpSink(rcpt_delay_s=0.3).start()
    try:
        trial = run_kill_trial(
            url,
            sink,
            tmp_path / "logs",
            mails=12,
            rate_per_s=8.0,
            lease_s=LEASE_S,
            settle_s=45.0,
            kill_before_data=True,
        )
    finally:
        sink.stop()
    assert trial.mails == 12
    assert (trial.lost, trial.duplicates) == (0, 0)
    assert trial.killed_before_data
    assert trial.in_flight_at_kill == 1 and trial.taken_over >= 1
    # Issue 13: a killed worker's mail is retried by another worker within 30 s.
    assert trial.in_flight_delays and max(trial.in_flight_delays) < 30
