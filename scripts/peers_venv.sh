#!/usr/bin/env bash
# The peers' virtual environment .venv-peers: Home Assistant's own code for the interop tests
# (tests/bridge/test_home_assistant_peer.py), kept apart from the product's .venv. Created once
# and reused; rebuilt when tests/bridge/peers/requirements-ha.txt changes. Quiet when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

REQ=tests/bridge/peers/requirements-ha.txt
VENV=.venv-peers
stamp="$VENV/.installed-$(sha256sum "$REQ" | cut -c1-16)"
[ -f "$stamp" ] && exit 0

exec 9>".venv-peers.lock"
flock 9  # make test and a pytest fixture may both ask at once
[ -f "$stamp" ] && exit 0
echo "peers: creating $VENV with Home Assistant for the interop tests (first run takes ~2-4 min)" >&2
start=$SECONDS
rm -rf "$VENV"
"${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$REQ"
"$VENV/bin/python" -c "import homeassistant.bootstrap, homeassistant.components.mqtt.sensor"
touch "$stamp"
echo "peers: $VENV ready in $((SECONDS - start)) s" >&2
