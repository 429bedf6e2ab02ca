"""A real aiosmtpd sink with the faults of real mail servers: recipients refused for good
(550) or for now (451, greylisting), and latency while a recipient is checked (a relay doing
lookups), for tests and the worker-kill benchmark."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from mimamori_dev.services import SmtpSink, _CollectingHandler


class _FaultyHandler(_CollectingHandler):
    def __init__(self, sink: FaultySmtpSink) -> None:
        super().__init__(sink)
        self.faulty = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.faulty.rcpt_pending[address] = time.monotonic()
        try:
            if self.faulty.rcpt_delay_s:
                await asyncio.sleep(self.faulty.rcpt_delay_s)
        finally:
            self.faulty.rcpt_pending.pop(address, None)
        if address in self.faulty.refuse:
            return "550 5.1.1 No such user here"
        if address in self.faulty.defer:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class FaultySmtpSink(SmtpSink):
    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)  # refused for now (451): the sender retries
    rcpt_delay_s: float = 0.0
    # Recipients whose RCPT is being answered right now (the client has sent no DATA yet),
    # with the time.monotonic() the answer started.
    rcpt_pending: dict[str, float] = field(default_factory=dict)

    def rcpt_just_started(self) -> set[str]:
        """Recipients with more than half of the RCPT delay still to go."""
        now = time.monotonic()
        return {a for a, t in list(self.rcpt_pending.items()) if now - t < self.rcpt_delay_s / 2}

    def start(self) -> FaultySmtpSink:
        from aiosmtpd.controller import Controller

        controller = Controller(_FaultyHandler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller
        return self
