"""A classifier fault loses no answer on the gateway: the help spotter falls back to the safe
reading (an explicit 助けて still raises the alarm), a dialogue reads the answer as not
understood; every fault is counted in the health status, the heartbeat and /metrics, and
logged as a JSON event without the words."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.daemon import Gateway
from gateway.logging_setup import JsonFormatter
from gateway.metrics import GatewayCollector
from mimamori_wire import Intent
from speech.dialogue import Dialogue
from speech.intents import Classification, classify, is_help_phrase
from speech.voice import TextVoice
from tests.gateway.conftest import SimClock, kinds, make_settings

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 Tokyo


def broken_help_phrase(text: str, lang: str) -> bool:
    raise IndexError("tuple index out of range")


def broken_classify(text: str, lang: str = "ja", *, expect: str = "health") -> Classification:
    if text.startswith("秘密"):
        raise IndexError("tuple index out of range")
    return classify(text, lang, expect=expect)


def gateway(tmp_path: Path, answers: list[str | None], **wiring) -> Gateway:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    clock = SimClock(START)
    wiring.setdefault("dialogue_factory", Dialogue)
    wiring.setdefault("help_phrase", is_help_phrase)
    return Gateway(
        settings,
        voice=TextVoice(answers),
        now=clock,
        kernel_clock=lambda: True,
        monotonic=clock.monotonic,
        **wiring,
    )


def json_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[dict]:
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    return [line for line in lines if line["event"] == event]


def metrics_counter(gw: Gateway, name: str) -> float | None:
    for family in GatewayCollector(gw.status).collect():
        if family.name == "mimamori_gateway_events":
            for sample in family.samples:
                if sample.labels.get("counter") == name:
                    return sample.value
    return None


def test_a_faulty_help_classifier_still_raises_the_alarm_for_an_explicit_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> None:
        gw = gateway(tmp_path, ["助けて！", "今日はええ天気やね"], help_phrase=broken_help_phrase)
        await gw.open()
        try:
            assert await gw.help_spot_once() is True  # the safe reading: 助けて as written
            assert kinds(gw).count("help.requested") == 1
            assert await gw.help_spot_once() is False  # everyday talk stays quiet
            assert kinds(gw).count("help.requested") == 1
            assert gw.status()["counters"]["classifier_faults"] == 2
            assert gw.heartbeat_body().counters["classifier_faults"] == 2
            assert metrics_counter(gw, "classifier_faults") == 2.0
        finally:
            await gw.close()

    asyncio.run(scenario())
    faults = json_lines(caplog, "help.classifier_fault")
    assert len(faults) == 2
    assert faults[0]["level"] == "error"
    assert faults[0]["origin"].startswith("IndexError at test_help_and_dialogue_faults.py:")
    assert all("助けて" not in json.dumps(f, ensure_ascii=False) for f in faults)
    assert all("天気" not in json.dumps(f, ensure_ascii=False) for f in faults)


def test_a_working_help_classifier_counts_no_fault(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = gateway(tmp_path, ["救急車はいらん"])
        await gw.open()
        try:
            assert await gw.help_spot_once() is False  # the refusal is read, not matched
            assert gw.status()["counters"].get("classifier_faults", 0) == 0
        finally:
            await gw.close()

    asyncio.run(scenario())


def test_a_dialogue_fault_is_re_asked_confirmed_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    factory = functools.partial(Dialogue, classifier=broken_classify)

    async def scenario() -> None:
        answers: list[str | None] = ["秘密、胸が苦しい…", "秘密、胸が苦しい…", "はい"]
        gw = gateway(tmp_path, answers, dialogue_factory=factory)
        await gw.open()
        try:
            result = await gw.runs.converse(
                questions=["health"], kind="checkin", speed=1.0, volume=1.0, slot_name="morning"
            )
            assert result is not None
            assert result.outcome == "help" and result.intent == Intent.HELP
            assert result.confirmed  # after the re-ask, the help confirmation was answered yes
            assert gw.status()["counters"]["classifier_faults"] == 2
            assert gw.status()["counters"].get("dialogue_errors", 0) == 0
            assert metrics_counter(gw, "classifier_faults") == 2.0
        finally:
            await gw.close()

    asyncio.run(scenario())
    faults = json_lines(caplog, "classifier.fault")
    assert len(faults) == 2
    assert faults[0]["origin"].startswith("IndexError at test_help_and_dialogue_faults.py:")
    assert all("秘密" not in json.dumps(f, ensure_ascii=False) for f in faults)
