"""The CLI as a process: help, version, language, one-sentence errors, --debug, init."""

from __future__ import annotations

import json

from provisioning.messages import CATALOGUE, t

from .conftest import Gateway, assert_one_sentence_error


def test_help_and_version(gw: Gateway) -> None:
    result = gw.run("--help")
    assert result.returncode == 0
    for command in ("init", "enroll", "pair", "doctor", "install-service", "model", "audio"):
        assert command in result.stdout
    version = gw.run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("mimamori-provision ")


def test_catalogue_has_both_languages_with_same_placeholders() -> None:
    import string

    for key, (en, ja) in CATALOGUE.items():
        assert en and ja, key
        names = {f for _, f, _, _ in string.Formatter().parse(en) if f}
        assert names == {f for _, f, _, _ in string.Formatter().parse(ja) if f}, key


def test_japanese_when_lang_is_ja_jp(gw: Gateway, monkeypatch) -> None:
    result = gw.run("unpair", "living-motion", lang="ja_JP.UTF-8")
    line = assert_one_sentence_error(result)
    assert line.startswith("エラー:")
    assert "見守り機がまだ設定されていません" in line
    english = gw.run("unpair", "living-motion", lang="en_US.UTF-8")
    assert "The gateway is not configured yet" in assert_one_sentence_error(english)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert t("interrupted") == "中断しました。"


def test_debug_shows_the_traceback_otherwise_one_sentence(gw: Gateway) -> None:
    plain = gw.run("devices")
    assert_one_sentence_error(plain)
    debug = gw.run("--debug", "devices")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr


def test_unknown_option_is_a_usage_error_not_a_traceback(gw: Gateway) -> None:
    result = gw.run("enroll", "--no-such-flag")
    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_rejects_a_bad_url_in_one_sentence(gw: Gateway) -> None:
    result = gw.run("init", "--no-interactive", "--cloud", "ftp://example")
    line = assert_one_sentence_error(result)
    assert "is not a cloud URL" in line
    assert not gw.config.exists()


def test_init_rejects_a_bad_language_and_mqtt_address(gw: Gateway) -> None:
    bad_lang = gw.run(
        "init", "--no-interactive", "--cloud", "https://c.example", "--language", "fr"
    )
    assert "not a supported language" in assert_one_sentence_error(bad_lang)
    bad_mqtt = gw.run(
        "init", "--no-interactive", "--cloud", "https://c.example", "--mqtt", "localhost:99999"
    )
    assert "is not host:port" in assert_one_sentence_error(bad_mqtt)


def test_init_interactive_asks_again_after_bad_answers(gw: Gateway, mosquitto_broker) -> None:
    answers = (
        "\n".join(
            [
                "not-a-url",  # rejected, asked again
                "https://cloud.example.jp",
                "de",  # rejected
                "ko",
                "",  # default microphone
                "",  # default speaker
                "nohost",  # rejected: no port
                f"{mosquitto_broker.host}:{mosquitto_broker.port}",
            ]
        )
        + "\n"
    )
    result = gw.run("init", "--interactive", "--data-dir", str(gw.data_dir), input=answers)
    assert result.returncode == 0, result.stderr
    assert "is not a cloud URL" in result.stderr
    assert "not a supported language" in result.stderr
    assert "is not host:port" in result.stderr
    draft = json.loads(gw.config.with_name("gateway.toml.draft.json").read_text())
    assert draft["cloud_url"] == "https://cloud.example.jp"
    assert draft["language"] == "ko"
    assert draft["mqtt"]["port"] == mosquitto_broker.port
    assert draft["data_dir"] == str(gw.data_dir)


def test_init_warns_but_keeps_an_unreachable_broker(gw: Gateway) -> None:
    from tests.helpers import free_port

    port = free_port()
    result = gw.run(
        "init",
        "--no-interactive",
        "--cloud",
        "https://c.example.invalid",
        "--mqtt",
        f"127.0.0.1:{port}",
    )
    assert result.returncode == 0
    assert f"The MQTT broker at 127.0.0.1:{port} does not answer" in result.stderr
    assert "Cannot reach the cloud" in result.stderr


def test_init_rejects_a_missing_audio_device(gw: Gateway, alsa_file_device) -> None:
    result = gw.run(
        "init",
        "--no-interactive",
        "--cloud",
        "https://c.example",
        "--input-device",
        "NoSuchMic",
        HOME=str(alsa_file_device.home),
    )
    assert "There is no input device 'NoSuchMic'" in assert_one_sentence_error(result)
    ok = gw.run(
        "init",
        "--no-interactive",
        "--cloud",
        "https://c.example",
        "--input-device",
        "default",
        HOME=str(alsa_file_device.home),
    )
    assert ok.returncode == 0, ok.stderr
