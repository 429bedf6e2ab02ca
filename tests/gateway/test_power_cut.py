"""kill -9 the gateway process at random moments during heavy event production.

20 kills here (each a random moment: start-up, recovery or mid-batch; a fifth during start-up),
keeping the suite short; `bench/outbox_soak.py --kills 200` runs the issue's full 200 with the
same worker. After each kill the gateway restarts; at the end
every event whose acknowledgement was logged is at the cloud, and nothing twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.config import save_config
from gateway.status import outbox_depth
from tests.gateway.conftest import enroll, make_settings

WORKER = Path(__file__).with_name("powercut_worker.py")
KILLS = 20


def run_kills(config: Path, ack_log: Path, kills: int, seed: int) -> int:
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "--config", str(config), "--ack-log", str(ack_log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 1.0))  # sometimes while it starts up / recovers
        else:
            line = proc.stdout.readline()
            assert line.strip() == b"READY", line
            time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)  # the power cut: no cleanup of any kind
        proc.wait()
        killed += 1
    return killed


def drain(config: Path, ack_log: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--config",
            str(config),
            "--ack-log",
            str(ack_log),
            "--drain",
        ],
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
    )


def test_kill_9_during_heavy_production_loses_nothing_acknowledged(
    gateway_cloud, tmp_path: Path
) -> None:
    cloud = enroll(gateway_cloud)
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
        upload_batch_size=200,
    )
    config = tmp_path / "gateway.json"
    save_config(settings, config)
    ack_log = tmp_path / "acked.log"
    assert run_kills(config, ack_log, KILLS, seed=6) == KILLS
    drain(config, ack_log)
    assert outbox_depth(settings.data_dir) == 0

    acked = [line.split()[0] for line in ack_log.read_text().splitlines() if line.strip()]
    assert len(acked) > KILLS * 50  # the kills really happened during heavy production
    stored = cloud.stored_events()
    stored_ids = [e["id"] for e in stored]
    assert len(stored_ids) == len(set(stored_ids))
    missing = set(acked) - set(stored_ids)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    # At most one gateway.started per (re)start (a kill during start-up may precede it).
    assert sum(e["kind"] == "gateway.started" for e in stored) <= KILLS + 1
