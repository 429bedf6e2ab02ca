"""Gateway traffic runs in thread lanes of its own (cloud/api/lanes.py): with every routine
gateway thread busy, a call for help and the staff desk are still answered, and the waiting
heartbeats are answered as soon as a thread is free (nothing refused, nothing lost)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from cloud.api import fast_path
from cloud.api.lanes import is_urgent
from cloud.models import EventRecord
from mimamori_wire import v1


def test_help_and_the_desk_pass_heartbeats_that_fill_the_gateway_lane(
    live_cloud_factory: Any, monkeypatch: Any
) -> None:
    cloud = live_cloud_factory(gateway_threads=1)
    household = cloud.household()
    stuck, waiting = cloud.enroll(household["id"]), cloud.enroll(household["id"])
    entered, release = threading.Event(), threading.Event()
    record = fast_path.record_heartbeat

    def held(*args: Any) -> Any:  # the real recording, once the test lets it go
        entered.set()
        release.wait(30)
        return record(*args)

    monkeypatch.setattr(fast_path, "record_heartbeat", held)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(stuck.heartbeat)
        assert entered.wait(30), "the heartbeat never reached its thread"
        second = pool.submit(waiting.heartbeat)  # queues for the one routine thread
        helped = stuck.post(
            stuck.event(v1.EventKind.HELP_REQUESTED, v1.HelpRequested(source="button"))
        )
        desk = httpx.get(f"{cloud.base_url}/healthz", timeout=30)
        assert helped.status_code == 200, helped.text
        assert helped.json()["accepted"], helped.text
        assert desk.status_code == 200
        assert not first.done() and not second.done()  # the lane really was full
        release.set()
        first.result(timeout=30)
        second.result(timeout=30)
    with cloud.sessions() as session:
        kinds = [row.kind for row in session.query(EventRecord).all()]
    assert v1.EventKind.HELP_REQUESTED.value in kinds


japanese = st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x30FF), max_size=30)


def batch_body(kind: str, payload: dict[str, Any], indent: int | None) -> bytes:
    event = {"id": "e1", "kind": kind, "payload": payload}  # as it looks on the wire
    return json.dumps({"events": [{"extra": 1}, event]}, indent=indent).encode()


@given(
    st.sampled_from(["help", "unwell"]),
    japanese | st.text(max_size=30),
    st.none() | st.integers(0, 2),
)
def test_every_batch_with_help_or_unwell_takes_the_urgent_lane(
    intent: str, transcript: str, indent: int | None
) -> None:
    answer = {"slot": "09:00", "intent": intent, "transcript": transcript}
    assert is_urgent(batch_body(v1.EventKind.CHECKIN_ANSWERED.value, answer, indent))
    pressed = {"source": "button", "transcript": transcript}
    assert is_urgent(batch_body(v1.EventKind.HELP_REQUESTED.value, pressed, indent))


@given(st.sampled_from(["fine", "usual", "yes", "no"]), japanese, st.none() | st.integers(0, 2))
def test_routine_batches_stay_in_the_routine_lane(
    intent: str, transcript: str, indent: int | None
) -> None:
    answer = {"slot": "09:00", "intent": intent, "transcript": transcript}
    assert not is_urgent(batch_body(v1.EventKind.CHECKIN_ANSWERED.value, answer, indent))
