"""`enroll` against the real cloud (mimamori-cloud under uvicorn, fresh SQLite database)."""

from __future__ import annotations

import sqlite3
import stat

import httpx

from gateway.config import load_config, read_token
from tests.helpers import free_port

from .conftest import Gateway, assert_one_sentence_error


def test_enroll_stores_the_token_0600_and_completes_the_config(
    gw: Gateway, shared_cloud, household_code
) -> None:
    gw.init(shared_cloud.base_url, "--language", "ja")
    assert not gw.config.exists()  # before enrollment only the draft exists
    code = household_code()
    result = gw.run("enroll", code)
    assert result.returncode == 0, result.stderr
    assert "Enrolled: gateway" in result.stdout
    settings = load_config(gw.config)
    assert settings.cloud_url == shared_cloud.base_url
    assert settings.data_dir == gw.data_dir
    assert stat.S_IMODE(gw.token_file.stat().st_mode) == 0o600
    assert not gw.config.with_name("gateway.toml.draft.json").exists()
    token = read_token(gw.token_file)
    # the cloud accepts the stored token for the gateway's own config
    response = httpx.get(
        f"{shared_cloud.base_url}/api/v1/gateway/config",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["household_id"] == settings.household_id

    # init after enrollment edits the real config and keeps the enrollment
    again = gw.run("init", "--no-interactive", "--language", "en")
    assert again.returncode == 0, again.stderr
    updated = load_config(gw.config)
    assert (updated.gateway_id, updated.language) == (settings.gateway_id, "en")

    used = gw.run("enroll", code)
    line = assert_one_sentence_error(used)
    assert f"The enrollment code {code} has already been used" in line
    assert read_token(gw.token_file) == token  # a failed enroll leaves the old token alone


def test_enroll_with_cloud_flag_and_no_init(gw: Gateway, shared_cloud, household_code) -> None:
    result = gw.run("enroll", household_code(), "--cloud", shared_cloud.base_url)
    assert result.returncode == 0, result.stderr
    assert load_config(gw.config).token_file == gw.config.parent / "token"


def test_unknown_code_in_japanese(gw: Gateway, shared_cloud) -> None:
    result = gw.run("enroll", "ZZZZ9999", "--cloud", shared_cloud.base_url, lang="ja_JP.UTF-8")
    line = assert_one_sentence_error(result)
    assert line.startswith("エラー: 登録コード ZZZZ9999 はクラウドに登録されていません")
    assert not gw.config.exists()


def test_expired_code(gw: Gateway, shared_cloud, household_code) -> None:
    code = household_code()
    db = shared_cloud.database_url.removeprefix("sqlite:///")
    from cloud.services.tenancy import hash_secret, normalise_code

    with sqlite3.connect(db) as conn:  # seven days have passed for this code
        conn.execute(
            "UPDATE enrollment_codes SET expires_at = '2000-01-01 00:00:00' WHERE code_hash = ?",
            (hash_secret(normalise_code(code)),),
        )
    result = gw.run("enroll", code, "--cloud", shared_cloud.base_url)
    assert f"The enrollment code {code} has expired" in assert_one_sentence_error(result)


def test_unreachable_cloud_and_missing_url(gw: Gateway) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = gw.run("enroll", "ABCD2345", "--cloud", url)
    line = assert_one_sentence_error(result)
    assert f"Cannot reach the cloud at {url}" in line
    assert "check the network connection" in line
    no_url = gw.run("enroll", "ABCD2345")
    assert "No cloud URL is known" in assert_one_sentence_error(no_url)
    bad = gw.run("enroll", "x", "--cloud", url)
    assert "is malformed" in assert_one_sentence_error(bad)


def test_token_file_in_an_unwritable_place(
    gw: Gateway, shared_cloud, household_code, tmp_path
) -> None:
    import os

    if os.geteuid() == 0:
        blocked = tmp_path / "file-not-dir"
        blocked.write_text("")
        token_file = blocked / "token"  # a parent that is a file fails even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        token_file = locked / "token"
    gw.init(shared_cloud.base_url, "--token-file", str(token_file))
    result = gw.run("enroll", "ABCD2345")  # refused before the cloud is asked
    line = assert_one_sentence_error(result)
    assert f"Cannot write {token_file}" in line
    assert "Enrolling" not in result.stdout  # refused before the one-time code was spent
