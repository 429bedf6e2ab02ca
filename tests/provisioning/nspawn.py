"""A minimal Debian with systemd as PID 1, for the installer's real path (systemd-nspawn).

The base root (debootstrap minbase + systemd + python3, and a venv at /opt/mimamori/venv with
the gateway's locked runtime dependencies) is built once and cached under
$MIMAMORI_NSPAWN_CACHE (default /var/cache/mimamori-nspawn), keyed on its inputs. Each test
boots an overlay of it, so the cache is never changed, and installs the current source as a
wheel into the overlay.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MIMAMORI_NSPAWN_CACHE", "/var/cache/mimamori-nspawn"))
SUITE = "bookworm"  # Debian 12, the gateway's OS (Raspberry Pi OS is based on it)
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv"
VENV = "/opt/mimamori/venv"
# Voice packages are not needed to start the daemon (no sound card in the container: the
# daemon reports check-ins unanswered), and they are most of the install's weight.
NOT_IN_CONTAINER = {"vosk", "pyopenjtalk-plus"}
PROJECT_PACKAGES = (
    "mimamori_wire",
    "mimamori_rules",
    "mimamori_dev",
    "speech",
    "firmware_bridge",
    "gateway",
    "cloud",
    "provisioning",
)
BUILDER = "1"  # bump when the build steps below change
NSPAWN = ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet"]


def runtime_requirements(lock_text: str) -> list[str]:
    """The gateway lock's blocks (pin + hashes), without NOT_IN_CONTAINER and what only they
    pull in (read from pip-compile's `# via` notes)."""
    blocks: dict[str, tuple[str, set[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock_text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==\S+", block)
        if not match:
            continue
        vias = set(
            re.findall(r"#\s+(?:via\s+)?([A-Za-z0-9_.\-]+)(?: \(pyproject\.toml\))?$", block, re.M)
        ) - {"via"}
        pin = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        blocks[match.group(1).lower()] = (pin.rstrip(" \\\n"), vias)
    dropped = set(NOT_IN_CONTAINER)
    changed = True
    while changed:
        changed = False
        for name, (_, vias) in blocks.items():
            if name not in dropped and vias and vias <= dropped:
                dropped.add(name)
                changed = True
    return [pin for name, (pin, _) in sorted(blocks.items()) if name not in dropped]


def cache_key(requirements: list[str]) -> str:
    inputs = json.dumps([SUITE, PACKAGES, VENV, BUILDER, requirements, sys.version_info[:2]])
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def _run(command: list[str], timeout: float, what: str) -> None:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        tail = [line for line in lines if "nspawn/propagate" not in line][-15:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n" + "\n".join(tail))


def base_root() -> Path:
    """The cached root, built first if needed (one builder at a time, others wait)."""
    lock = (REPO / "requirements" / "gateway.txt").read_text(encoding="utf-8")
    requirements = runtime_requirements(lock)
    key = cache_key(requirements)
    final = CACHE / key
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (final / "ready").exists():
            _build(final, requirements)
    return final / "root"


def _build(final: Path, requirements: list[str]) -> None:
    work = final.with_name(final.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    _run(
        ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, root],
        timeout=900,
        what="debootstrap",
    )
    wheels = root / "opt" / "wheels"  # not /tmp: nspawn mounts a tmpfs there
    wheels.mkdir(parents=True)
    pinned = work / "runtime.txt"
    pinned.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    # Same Debian and Python on both sides: wheels built here install there; hashes checked.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--require-hashes",
            "-r",
            pinned,
            "-w",
            wheels,
        ],
        timeout=900,
        what="pip wheel (gateway runtime)",
    )
    names = [line.split()[0] for line in requirements]
    (wheels / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    _run([*NSPAWN, "-D", root, "/usr/bin/python3", "-m", "venv", VENV], 300, "venv")
    _run(
        [
            *NSPAWN,
            "-D",
            root,
            f"{VENV}/bin/pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--find-links",
            "/opt/wheels",
            "-r",
            "/opt/wheels/names.txt",
        ],
        timeout=600,
        what="pip install in the container",
    )
    shutil.rmtree(wheels)
    (work / "ready").touch()
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    for stale in final.parent.iterdir():  # roots of older inputs (~0.5 GB each)
        if stale != final and re.fullmatch(r"[0-9a-f]{16}(\.building)?", stale.name):
            shutil.rmtree(stale, ignore_errors=True)


def project_wheel(out: Path) -> Path:
    """A wheel of the current source (built from a copy: no build/ in the work tree)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in PROJECT_PACKAGES:
        if (REPO / package).is_dir():
            shutil.copytree(REPO / package, src / package, ignore=ignore)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            out / "dist",
            src,
        ],
        timeout=300,
        what="pip wheel (mimamori)",
    )
    return next((out / "dist").glob("mimamori-*.whl"))


@contextlib.contextmanager
def overlay(lower: Path, scratch: Path) -> Iterator[Path]:
    """A writable view of `lower`; changes land in `scratch` and go with it."""
    upper, work, merged = scratch / "upper", scratch / "work", scratch / "merged"
    for path in (upper, work, merged):
        path.mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    _run(["mount", "-t", "overlay", "overlay", "-o", options, merged], 60, "overlay mount")
    try:
        yield merged
    finally:
        subprocess.run(["umount", "--lazy", str(merged)], capture_output=True, timeout=60)


def boot(root: Path, binds: dict[Path, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Boot `root` with systemd as PID 1 until it powers itself off (bounded by `timeout`)."""
    command = [*NSPAWN, "-D", str(root), "-b", "--console=pipe"]
    command += [f"--bind={host}:{inside}" for host, inside in binds.items()]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return subprocess.CompletedProcess(command, -1, out, f"timed out after {timeout} s")
