"""One error type for the installer: a catalogue key and its values, shown as one sentence."""

from __future__ import annotations

from provisioning.messages import t


class ProvisionError(Exception):
    """Something the installer can fix; `str()` is the translated sentence."""

    def __init__(self, key: str, exit_code: int = 1, **values: object) -> None:
        self.key = key
        self.values = values
        self.exit_code = exit_code
        super().__init__(t(key, **values))
