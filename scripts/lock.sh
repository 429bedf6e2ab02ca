#!/usr/bin/env bash
# `make lock`: refresh the hashed lock files in requirements/ from pyproject.toml.
#   requirements/gateway.txt  the home gateway install   (.[gateway])
#   requirements/cloud.txt    the cloud install          (.[cloud])
#   requirements/dev.txt      this repository's .venv    (.[gateway,cloud,dev]; bootstrap uses it)
# Pins already in a lock file are kept (only new or changed requirements are resolved), so a
# rerun after adding a dependency is quick; `LOCK_UPGRADE=1 make lock` moves every pin to the
# newest release allowed. Resolved against the public PyPI only, whatever this machine's pip
# configuration adds, so the hashes hold on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || .venv/bin/pip install -q pip-tools
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
upgrade=(); [ -n "${LOCK_UPGRADE:-}" ] && upgrade=(--upgrade)
mkdir -p requirements
compile() {  # compile OUTPUT EXTRA...
  local out=$1; shift
  local extras=(); for e in "$@"; do extras+=(--extra "$e"); done
  echo "lock: $out (${*})" >&2
  # Build backends of sdists print pages of deprecation warnings: shown only on failure.
  if ! CUSTOM_COMPILE_COMMAND="make lock" .venv/bin/pip-compile --quiet --generate-hashes \
    --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    --resolver=backtracking "${upgrade[@]}" "${extras[@]}" -o "$out" pyproject.toml \
    2> "$log"; then
    cat "$log" >&2
    return 1
  fi
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
compile requirements/dev.txt gateway cloud dev
compile requirements/gateway.txt gateway
compile requirements/cloud.txt cloud
