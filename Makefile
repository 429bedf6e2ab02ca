# The two commands a fresh Debian 12 machine needs: `make demo` and `make test`.
.PHONY: demo test lint format bench bench-quick screenshots setup clean

PY := .venv/bin/python

setup:
	@scripts/bootstrap.sh

demo: setup
	$(PY) -m mimamori_dev.demo

test: setup lint
	$(PY) -m pytest

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
	rm -rf .venv .pytest_cache .ruff_cache demo-data
