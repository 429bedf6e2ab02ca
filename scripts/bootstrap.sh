#!/usr/bin/env bash
# Install what Mimamori needs on a Debian 12 machine: Debian packages (when missing) and the
# Python virtual environment at .venv with every extra. Safe to run again; fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(mosquitto libportaudio2 espeak-ng sox chromium fonts-noto-cjk postgresql alsa-utils
      systemd python3-venv curl systemd-container debootstrap)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
# Exact versions with hashes from the lock (refresh it with `make lock`), then the project
# itself without dependencies; the stamp changes whenever the lock or pyproject.toml does.
LOCK=requirements/dev.txt
stamp=".venv/.mimamori-installed-$(cat "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv from $LOCK (first run takes a few minutes)"
  .venv/bin/pip install -q --require-hashes -r "$LOCK"
  .venv/bin/pip install -q --no-deps -e .
  .venv/bin/python scripts/check_lock.py
  rm -f .venv/.mimamori-installed-*
  touch "$stamp"
fi
