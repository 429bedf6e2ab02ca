"""Small durable state (cached cloud config, finished slots, last-alive time, counters).

TinyDB, but with a storage that writes a temp file, fsyncs and renames: a power cut leaves
the old or the new file, never a torn one (TinyDB's JSONStorage rewrites in place).
Not for the event outbox: TinyDB rewrites the whole file on every write.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from gateway.config import atomic_write

log = logging.getLogger(__name__)


class AtomicJSONStorage(Storage):
    """TinyDB storage: whole-file JSON, replaced atomically on each write."""

    def __init__(self, path: str | Path, **_: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            # Cannot happen with atomic writes; if someone edited it by hand, keep a copy.
            bad = self.path.with_suffix(".corrupt")
            self.path.replace(bad)
            log.error("small state file %s was corrupt; moved to %s", self.path, bad)
            return None

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        atomic_write(self.path, body, mode=0o600)

    def close(self) -> None:
        pass


class SmallState:
    """A single JSON document of named values; each `update` is one atomic file write."""

    _DOC_ID = 1

    def __init__(self, path: Path) -> None:
        self._db = TinyDB(path, storage=AtomicJSONStorage)
        self._table = self._db.table("state")
        self._table.cache_size = 0  # always read what is on disk after another process wrote
        self._cache: dict[str, Any] = dict(self._table.get(doc_id=self._DOC_ID) or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self._cache.get(key, default)

    def update(self, **values: Any) -> None:
        self._cache.update(values)
        self._table.upsert(Document(dict(self._cache), doc_id=self._DOC_ID))

    def snapshot(self) -> dict[str, Any]:
        return dict(self._cache)

    def close(self) -> None:
        self._db.close()


def read_state_file(path: Path) -> dict[str, Any]:
    """Read-only view for `mimamori-gateway status` (no TinyDB writes, no locks)."""
    try:
        data = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return {}
    table = data.get("state", {})
    return dict(table.get(str(SmallState._DOC_ID), {}))
