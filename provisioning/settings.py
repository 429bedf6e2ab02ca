"""Reading and writing the gateway config for the installer (via gateway.config only).

Before enrollment the gateway id and household id are unknown, and GatewaySettings rightly
requires them, so `init` keeps its answers in a draft file next to the config
(`gateway.toml.draft.json`); `enroll` merges the draft with the cloud's answer and writes the
real config. The daemon only ever sees a complete, valid config.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config import (
    ConfigError,
    GatewaySettings,
    atomic_write,
    load_config,
    save_config,
)
from provisioning.errors import ProvisionError

_PLACEHOLDER = "pending-enrollment"


def draft_path(config: Path) -> Path:
    return config.with_name(config.name + ".draft.json")


def default_token_file(config: Path) -> Path:
    return config.parent / "token"


def load_settings(config: Path) -> GatewaySettings:
    """The real config, or a clear 'not configured' error."""
    try:
        return load_config(config)
    except ConfigError as exc:
        raise ProvisionError("needs_config", detail=str(exc).splitlines()[0]) from None


def load_draft(config: Path) -> dict[str, Any]:
    path = draft_path(config)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}


def validate_partial(values: dict[str, Any]) -> GatewaySettings:
    """Validate settings that may still lack the enrollment ids."""
    return validate_settings({"gateway_id": _PLACEHOLDER, "household_id": _PLACEHOLDER, **values})


def validate_settings(data: dict[str, Any]) -> GatewaySettings:
    """GatewaySettings, or one sentence naming the first bad field."""
    try:
        return GatewaySettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProvisionError("config_error", detail=f"{where}: {first['msg']}") from None


def save_draft(config: Path, values: dict[str, Any]) -> Path:
    settings = validate_partial(values)
    data = settings.model_dump(mode="json", exclude={"gateway_id", "household_id"})
    path = draft_path(config)
    write_guarded(path, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
    return path


def current_values(config: Path) -> tuple[dict[str, Any], bool]:
    """(values, enrolled): the real config if there is one, else the draft."""
    if config.exists():
        settings = load_settings(config)
        return settings.model_dump(mode="json"), True
    return load_draft(config), False


def save_settings(settings: GatewaySettings, config: Path) -> None:
    try:
        save_config(settings, config)
    except PermissionError:
        raise ProvisionError("permission", path=config) from None
    except ConfigError as exc:
        raise ProvisionError("config_error", detail=str(exc)) from None


def write_guarded(path: Path, body: bytes, mode: int = 0o640) -> None:
    try:
        atomic_write(path, body, mode=mode)
    except PermissionError:
        raise ProvisionError("permission", path=path) from None


def ensure_writable(path: Path) -> None:
    """Fail before an irreversible step (spending a one-time code) if we could not save."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe"):
            pass
    except PermissionError:
        raise ProvisionError("permission", path=path) from None
    except OSError as exc:
        raise ProvisionError("cannot_write", path=path, error=exc.strerror or exc) from None


def remove_draft(config: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        draft_path(config).unlink()
