"""A real gateway process under heavy event production, for the kill -9 (power-cut) test.

Runs the daemon's outbox and uplink against a real cloud while producer tasks emit events
as fast as the outbox acknowledges them; each acknowledged id is appended to --ack-log
only after `emit` returned (i.e. after the commit). Prints READY once producing.
With --drain, produces nothing and exits 0 as soon as the outbox is empty.

    python tests/gateway/powercut_worker.py --config CFG --ack-log LOG [--drain]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.config import load_config
from gateway.daemon import Gateway
from mimamori_wire.v1 import Activity, AnswerSource, EventKind, HelpRequested

PRODUCERS = 8


async def produce(gw: Gateway, log_fd: int, n: int) -> None:
    i = 0
    while True:
        i += 1
        if i % 97 == 0:
            kind, payload = EventKind.HELP_REQUESTED, HelpRequested(source=AnswerSource.BUTTON)
        else:
            kind, payload = EventKind.ACTIVITY, Activity(sensor=f"p{n}", kind=f"k{i % 5}")
        event = await gw.emit(kind, payload)
        if event is not None:
            os.write(log_fd, f"{event.id} {kind.value}\n".encode())  # O_APPEND: whole lines


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--ack-log", required=True)
    parser.add_argument("--drain", action="store_true")
    args = parser.parse_args()
    settings = load_config(Path(args.config))
    gw = Gateway(settings, kernel_clock=lambda: True)
    await gw.open()
    assert gw.uploader is not None
    uploader = asyncio.create_task(gw.uploader.run())
    if args.drain:
        while gw.outbox.depth() > 0:
            await asyncio.sleep(0.05)
        uploader.cancel()
        await gw.close()
        print("DRAINED", flush=True)
        return 0
    log_fd = os.open(args.ack_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    tasks = [asyncio.create_task(produce(gw, log_fd, n)) for n in range(PRODUCERS)]
    print("READY", flush=True)
    await asyncio.gather(*tasks, uploader)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
