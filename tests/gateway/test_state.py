"""Small state on TinyDB with the atomic storage."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.state import SmallState, read_state_file


def test_updates_replace_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = SmallState(path)
    state.update(a=1)
    inode = path.stat().st_ino
    state.update(b={"x": [1, 2]})
    assert path.stat().st_ino != inode  # a new file was renamed over the old one
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in os.listdir(tmp_path) if p != "state.json"]
    again = SmallState(path)
    assert again.snapshot() == {"a": 1, "b": {"x": [1, 2]}}
    assert read_state_file(path) == {"a": 1, "b": {"x": [1, 2]}}


def test_a_corrupt_file_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"state": {"1": {"a": ')  # e.g. edited by hand
    state = SmallState(path)
    assert state.snapshot() == {}
    state.update(a=2)
    assert json.loads(path.read_text())["state"]["1"] == {"a": 2}
    assert (tmp_path / "state.corrupt").exists()
