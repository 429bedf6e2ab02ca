"""Power-cut soak: kill -9 the gateway at N random moments (default 200, the issue's figure)
during heavy event production against a real local cloud; then check that every
acknowledged event is at the cloud exactly once. tests/gateway/test_power_cut.py runs 40.

    .venv/bin/python bench/outbox_soak.py [--kills 200] [--quick]

Last line: {"bench": "outbox_soak", "kills", "acked", "stored", "lost", "duplicates", ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import save_config
from gateway.status import outbox_depth
from mimamori_dev.services import CloudServer
from tests.gateway.conftest import enroll, make_settings
from tests.gateway.test_power_cut import drain, run_kills


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="20 kills (under a minute)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    kills = 20 if args.quick else args.kills
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        workdir = Path(tmp)
        cloud = CloudServer(f"sqlite:///{workdir}/cloud.db", workdir / "cloud").start()
        try:
            enrolled = enroll(cloud)
            settings = make_settings(
                workdir,
                cloud_url=enrolled.base_url,
                token=enrolled.token,
                gateway_id=enrolled.gateway_id,
                household_id=enrolled.household_id,
                upload_batch_size=200,
            )
            config = workdir / "gateway.json"
            save_config(settings, config)
            ack_log = workdir / "acked.log"
            start = time.perf_counter()
            run_kills(config, ack_log, kills, seed=args.seed)
            drain(config, ack_log)
            elapsed = time.perf_counter() - start
            depth = outbox_depth(settings.data_dir)
            acked = [ln.split()[0] for ln in ack_log.read_text().splitlines() if ln.strip()]
            stored = [e["id"] for e in enrolled.stored_events()]
        finally:
            cloud.stop()
    lost = len(set(acked) - set(stored))
    result = {
        "bench": "outbox_soak",
        "kills": kills,
        "acked": len(acked),
        "stored": len(stored),
        "lost": lost,
        "duplicates": len(stored) - len(set(stored)),
        "outbox_left": depth,
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(result))
    sys.exit(0 if lost == 0 and result["duplicates"] == 0 and depth == 0 else 1)


if __name__ == "__main__":
    main()
