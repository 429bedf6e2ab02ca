"""Always-on help spotting with the real recognizer: LocalVoice (vosk Korean model, the only
model installable here) fed recorded espeak-ng speech through speech's ReplayDevice.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.daemon import Gateway
from mimamori_wire.v1 import AnnouncementCommand
from speech.intents import is_help_phrase
from speech.testaudio import silence, synthesise
from tests.gateway.conftest import SimClock, cloud_config, make_settings
from tests.gateway.test_daemon import of_kind, prime

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def local_voice_parts(tmp_path_factory: pytest.TempPathFactory):
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: cannot make test speech (Debian {tool})")
    try:
        from speech.recognition import get_model

        get_model("ko")
    except Exception as exc:  # the model package is a dev dependency
        pytest.skip(f"vosk Korean model not available: {exc}")
    from speech.tts import PromptRenderer

    cache = tmp_path_factory.mktemp("speech")
    return cache, PromptRenderer(cache / "tts")


def korean(cache: Path, text: str) -> bytes:
    return synthesise(text, cache) + silence(3.0)


async def gateway_with(tmp_path: Path, voice, share_transcripts: bool = False) -> Gateway:
    settings = make_settings(tmp_path, language="ko")
    prime(settings, cloud_config(language="ko", slots=[], share_transcripts=share_transcripts))
    gw = Gateway(
        settings,
        voice=voice,
        help_phrase=is_help_phrase,
        now=SimClock(datetime(2026, 11, 27, 3, 0, tzinfo=UTC)),
        kernel_clock=lambda: True,
    )
    await gw.open()
    return gw


def test_help_phrase_heard_between_dialogues(local_voice_parts, tmp_path: Path) -> None:
    from speech.voice import LocalVoice, ReplayDevice

    cache, renderer = local_voice_parts
    device = ReplayDevice([korean(cache, "오늘 기분이 좋아요"), korean(cache, "살려주세요")])
    voice = LocalVoice(device, renderer, lang="ko")

    async def scenario() -> None:
        gw = await gateway_with(tmp_path, voice, share_transcripts=True)
        assert await gw.help_spot_once(timeout_s=8.0) is False  # everyday speech
        assert await gw.help_spot_once(timeout_s=8.0) is True
        (event,) = of_kind(gw, "help.requested")
        assert event["payload"]["source"] == "voice"
        # the household opted in to transcripts; otherwise only the intent leaves the home
        assert "살려" in event["payload"]["transcript"]
        await gw.close()

    asyncio.run(scenario())


def test_an_announcement_interrupts_help_spotting(local_voice_parts, tmp_path: Path) -> None:
    from speech.voice import LocalVoice, ReplayDevice

    _cache, renderer = local_voice_parts
    chunks_read = 0

    class CountingDevice(ReplayDevice):
        def capture_chunks(self, max_s=None):
            nonlocal chunks_read
            for chunk in super().capture_chunks(max_s):
                chunks_read += 1
                yield chunk

    voice = LocalVoice(CountingDevice([silence(600.0)]), renderer, lang="ko")

    async def scenario() -> None:
        gw = await gateway_with(tmp_path, voice)
        spotting = asyncio.create_task(gw.help_spot_once(timeout_s=600.0))
        while chunks_read == 0:
            await asyncio.sleep(0.01)
        command = AnnouncementCommand(
            id="c1",
            issued_at=datetime.now(UTC),
            payload={"text": "お知らせです。", "urgent": True},
        )
        await gw.handle_command(command)
        assert await spotting is False
        assert len(voice.device.played) == 1  # the announcement was spoken
        await gw.close()

    asyncio.run(scenario())
    assert chunks_read < 600 * 10  # stopped early: 0.1 s chunks, 600 s of audio available
