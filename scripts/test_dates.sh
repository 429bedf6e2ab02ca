#!/usr/bin/env bash
# `make test-dates`: run the given tests once per pinned "today" (pytest --today, time-machine),
# the runs side by side (they mostly wait on SQLite and subprocesses), each run's output shown
# after it ends. Fails if any run fails.
# Usage: scripts/test_dates.sh "TODAY1 TODAY2 ..." TEST_PATH...
set -uo pipefail
cd "$(dirname "$0")/.."
todays=$1; shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pid
for today in $todays; do
  .venv/bin/python -m pytest -q -p no:cacheprovider -p mimamori_dev.pytest_today \
    --today="$today" -m "not slow and not postgres and not browser" "$@" \
    > "$logs/$today.log" 2>&1 &
  pid[$today]=$!
done
failed=0
for today in $todays; do
  if wait "${pid[$today]}"; then status=passed; else status=FAILED; failed=1; fi
  echo "== test-dates: today is $today: $status" >&2
  if [ $status = FAILED ]; then cat "$logs/$today.log" >&2; else tail -1 "$logs/$today.log" >&2; fi
done
exit $failed
