"""The pure cores behind the CLI, with plain vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.simulate import BUTTON, BUTTON_LONG, MOTION, build_frame, service_data
from provisioning.cloudapi import classify_enroll_error
from provisioning.errors import ProvisionError
from provisioning.models import MODELS, expected_sha
from provisioning.pairing import Advertisement, ScanSession, parse_bindkey, verify_bindkey
from provisioning.service import UnitOptions, render_unit

KEY = "231d39c1d7cc1ab1aee224cd096db932"


@pytest.mark.parametrize(
    ("status", "error", "key"),
    [
        (401, "invalid_code", "code_unknown"),
        (401, "code_used", "code_used"),
        (401, "code_expired", "code_expired"),
        (404, "", "code_unknown"),
        (409, "", "code_used"),
        (410, "", "code_expired"),
        (500, "internal", "cloud_refused"),
    ],
)
def test_enroll_errors_map_to_messages(status: int, error: str, key: str) -> None:
    assert classify_enroll_error(status, error) == key


def test_checksum_rules() -> None:
    ja = MODELS["ja"]
    assert ja.name == "vosk-model-small-ja-0.22"
    with pytest.raises(ProvisionError) as exc:
        expected_sha(ja, None, required=True)
    assert exc.value.key == "model_need_sha"
    assert expected_sha(ja, None, required=False) is None  # a local --file still loads-tests
    assert expected_sha(ja, "AB" * 32, required=True) == "ab" * 32
    with pytest.raises(ProvisionError):
        expected_sha(ja, "not-hex", required=True)


def test_scan_session_decodes_counts_and_picks() -> None:
    session = ScanSession()
    mac = "A4:C1:38:00:00:09"
    plain = build_frame([(BUTTON, bytes([BUTTON_LONG]))], packet_id=3)
    assert session.observe(Advertisement(mac.lower(), service_data(plain), -50, "btn"))
    assert session.observe(Advertisement(mac, {"other": b"\x01"}, -50, None)) is None
    assert session.observe(Advertisement(mac, service_data(b"\x40"), -50, None)) is None
    assert session.ignored == 2
    [cand] = session.ordered()
    assert cand.address == mac and "button long_press" in cand.reading
    assert session.pick("1") is cand and session.pick(mac.lower()) is cand
    with pytest.raises(ProvisionError):
        session.pick("2")


def test_bindkey_verification() -> None:
    session = ScanSession()
    mac = "A4:C1:38:00:00:0A"
    frame = build_frame([(MOTION, 1)], bindkey=KEY, counter=5, mac=mac)
    cand = session.observe(Advertisement(mac, service_data(frame), -60, None))
    assert cand is not None and cand.encrypted and cand.reading == ""
    assert verify_bindkey(cand, parse_bindkey(KEY)) == "motion on"
    with pytest.raises(ProvisionError) as wrong:
        verify_bindkey(cand, bytes(16))
    assert wrong.value.key == "bindkey_wrong"
    with pytest.raises(ProvisionError) as bad:
        parse_bindkey("12")
    assert bad.value.key == "bindkey_format"


def test_unit_leaves_out_groups_this_machine_lacks() -> None:
    opts = UnitOptions(
        exe=Path("/usr/bin/mimamori-gateway"),
        config=Path("/etc/mimamori/gateway.toml"),
        data_dir=Path("/var/lib/mimamori"),
        groups=("audio", "no-such-group-xyz"),
    )
    unit = render_unit(opts)
    assert "SupplementaryGroups=audio\n" in unit
    assert "# Groups not on this machine, left out: no-such-group-xyz" in unit
    assert "ExecStart=/usr/bin/mimamori-gateway run --config /etc/mimamori/gateway.toml" in unit
    # bounded glibc malloc arenas (memory on a small Pi: docs/benchmarks.md, speech memory)
    assert "\nEnvironment=MALLOC_ARENA_MAX=2\n" in unit


def test_service_user_gets_read_access_to_config_and_token(tmp_path) -> None:
    """`enroll` runs as root; the service runs as its own user and must still read both."""
    import grp
    import os
    import pwd
    import stat

    import pytest

    from provisioning.service import grant_service_access

    try:
        user = pwd.getpwnam("postgres")  # an unprivileged system user this machine has
    except KeyError:
        pytest.skip("no unprivileged 'postgres' user on this machine to act as the service user")
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    config = tmp_path / "gateway.toml"
    token = tmp_path / "token"
    config.write_text("x")
    token.write_text("secret")
    os.chmod(config, 0o600)
    grant_service_access("postgres", config, token)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert config.stat().st_gid == grp.getgrnam("postgres").gr_gid
    assert token.stat().st_uid == user.pw_uid
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
