"""The two cloud calls the installer makes: enroll, and an authenticated config fetch.

Every failure becomes a ProvisionError with one sentence for the installer.
"""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx
from pydantic import ValidationError

from mimamori_wire.v1 import API_PREFIX, EnrollRequest, EnrollResponse
from provisioning.errors import ProvisionError

TIMEOUT_S = 10.0


def software_version() -> str:
    try:
        return version("mimamori")
    except PackageNotFoundError:
        return "0+unknown"


def hardware_id() -> str:
    """A stable id of this box: systemd's machine-id, else the MAC-derived node id."""
    for path in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return f"node-{uuid.getnode():012x}"


def _client(base_url: str, ca_bundle: Path | None) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.Client(base_url=base_url, timeout=TIMEOUT_S, verify=verify)


def _transport_error(url: str, exc: httpx.HTTPError) -> ProvisionError:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError) or "CERTIFICATE" in str(exc).upper():
        return ProvisionError("tls_error", url=url, error=_short(exc))
    return ProvisionError("cloud_unreachable", url=url, error=_short(exc))


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:160]
    if not isinstance(body, dict):
        return "", str(body)[:160]
    return str(body.get("error", "")), str(body.get("detail", ""))[:300]


def classify_enroll_error(status: int, error: str) -> str:
    """Map the cloud's answer to one of our message keys (codes first, status as fallback)."""
    code = error.lower()
    if "expired" in code:
        return "code_expired"
    if "used" in code or "consumed" in code or "already" in code:
        return "code_used"
    if "unknown" in code or "not_found" in code or "invalid_code" in code:
        return "code_unknown"
    return {404: "code_unknown", 409: "code_used", 410: "code_expired"}.get(status, "cloud_refused")


def enroll(base_url: str, code: str, ca_bundle: Path | None = None) -> EnrollResponse:
    try:
        request = EnrollRequest(
            enrollment_code=code, hardware_id=hardware_id(), software_version=software_version()
        )
    except ValidationError:
        raise ProvisionError("code_format", code=code) from None
    try:
        with _client(base_url, ca_bundle) as client:
            response = client.post(f"{API_PREFIX}/gateway/enroll", json=request.model_dump())
    except httpx.HTTPError as exc:
        raise _transport_error(base_url, exc) from None
    if response.status_code == 422:
        raise ProvisionError("code_format", code=code)
    if response.status_code >= 400:
        error, detail = _error_body(response)
        key = classify_enroll_error(response.status_code, error)
        raise ProvisionError(key, code=code, status=response.status_code, detail=detail or error)
    try:
        return EnrollResponse.model_validate(response.json())
    except (ValueError, ValidationError):
        raise ProvisionError("cloud_bad_answer", url=base_url) from None


@dataclass(frozen=True)
class CloudProbe:
    reachable: bool
    error: str | None = None
    status: int | None = None  # of the authenticated config fetch, if a token was given
    detail: str | None = None
    clock_skew_s: float | None = None  # our clock minus the cloud's Date header


def probe(base_url: str, token: str | None, ca_bundle: Path | None = None) -> CloudProbe:
    """Reach the cloud; with a token, ask for the gateway config the way the daemon does."""
    import time

    try:
        with _client(base_url, ca_bundle) as client:
            if token is None:
                response = client.get("/healthz")
            else:
                response = client.get(
                    f"{API_PREFIX}/gateway/config", headers={"Authorization": f"Bearer {token}"}
                )
    except httpx.HTTPError as exc:
        return CloudProbe(reachable=False, error=_short(exc))
    skew = None
    date = response.headers.get("date")
    if date:
        try:
            skew = time.time() - parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            skew = None
    _, detail = _error_body(response) if response.status_code >= 400 else ("", "")
    return CloudProbe(
        reachable=True, status=response.status_code, detail=detail or None, clock_skew_s=skew
    )
