# The two commands a fresh Debian 12 machine needs: `make demo` and `make test`.
.PHONY: demo test nspawn-root lint typecheck imports test-dates lock format bench bench-quick screenshots messages \
	setup peers clean

PY := .venv/bin/python

setup:
	@scripts/bootstrap.sh

demo: setup
	$(PY) -m mimamori_dev.demo

# The checks before pytest run side by side (-j, each one's output kept together): the
# downloads (peers, the nspawn root) overlap the CPU-bound ones instead of adding to them.
test: setup
	@$(MAKE) --no-print-directory -o setup -j4 --output-sync=target \
		lint typecheck imports test-dates peers nspawn-root
	$(PY) -m pytest

# The cached Debian root that tests/provisioning/test_service_systemd.py boots (first build
# ~1.5 min on a fresh machine, then cached): built here beside the other checks. Needs root,
# systemd-nspawn and debootstrap, as the test does; otherwise nothing to do.
nspawn-root: setup
	@$(PY) -c 'import os, shutil; from tests.provisioning import nspawn; \
		tools = all(shutil.which(t) for t in ("systemd-nspawn", "debootstrap")); \
		os.geteuid() == 0 and tools and nspawn.base_root()'

# Home Assistant in its own .venv-peers for the interop tests (made once: ~2-4 min).
peers: setup
	@scripts/peers_venv.sh

# mypy, strict, on the wire contract, the rule book and the pure cores ([tool.mypy]).
typecheck: setup
	.venv/bin/mypy

# The import rules of docs/architecture.md (.importlinter).
imports: setup
	.venv/bin/lint-imports --no-cache

# The time-sensitive tests (schedules on both sides, escalation chain, retention, reports,
# settings, the gateway daemon on its injected clock) as if today were a Sunday and month
# end, New Year's Eve, and a leap day (late evening in Tokyo or the day before in UTC), so a
# wall-clock read where the injected clock belongs fails now, not on some later day.
TODAYS := 2027-01-31T23:20:00+09:00 2026-12-31T23:30:00+09:00 2028-02-29T08:50:00+09:00
DATE_TESTS := tests/rules tests/cloud/test_schedule.py tests/cloud/test_chain.py \
	tests/cloud/test_retention.py tests/cloud/test_e2e_escalation.py \
	tests/cloud/test_incident_followups.py tests/gateway/test_schedule.py \
	tests/gateway/test_daemon.py tests/gateway/test_days_off.py \
	tests/cloud/test_household_settings.py::test_settings_round_trip_reach_the_gateway_config \
	tests/cloud/test_admin_family.py::test_daily_report_after_last_slot \
	tests/cloud/test_pause_form.py
test-dates: setup
	@scripts/test_dates.sh "$(TODAYS)" $(DATE_TESTS)

# Refresh the hashed lock files (requirements/*.txt) after changing pyproject.toml.
lock:
	@scripts/lock.sh

# The dashboard's gettext catalogs (Babel): extract the English source text, merge it into
# each language's .po for the translator, compile the .mo files the server reads.
LOCALES := cloud/web/locale
messages: setup
	.venv/bin/pybabel extract -F babel.cfg --no-location --sort-output -o $(LOCALES)/messages.pot .
	.venv/bin/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages -w 100 --no-fuzzy-matching
	.venv/bin/pybabel compile -d $(LOCALES) -D messages --statistics

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	@for b in bench/*.py; do echo "== $$b" >&2; $(PY) $$b || exit 1; done

bench-quick: setup
	@for b in bench/*.py; do echo "== $$b" >&2; $(PY) $$b --quick || exit 1; done

# Re-take the README's dashboard screenshots (the browser tests, writing into docs/).
screenshots: setup
	MIMAMORI_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/dashboard/test_browser.py

clean:
	rm -rf .venv .venv-peers .pytest_cache .ruff_cache .mypy_cache .import_linter_cache demo-data
