# Spotcheck — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint run test test-sqlite test-postgres test-contract bench compose-check clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# TypeScript types generated from the API in tests/contract (pinned; skipped there without npm)
	@if command -v npm >/dev/null 2>&1; then npm install --silent --no-audit --no-fund --prefix $(VENV)/node openapi-typescript@7.13.0 typescript@5.9.3 || echo "npm install failed: TypeScript contract check will be skipped"; fi
	@touch $(STAMP)

install: $(STAMP)

## Everything up on SQLite under var/, NATS started (or reused via NATS_URL), Shanxi demo data.
run: install
	$(VENV)/bin/spotcheck run $(RUN_ARGS)

## Static check: unused imports/names, undefined names.
lint: install
	$(PY) -m pyflakes shared gateway services tests deploy

## The whole suite. TEST_DATABASE_URL=postgresql://... runs it on PostgreSQL, else SQLite files.
test: install
	@$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	 if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

## The API contract alone (part of `make test` too): live stack, generated Python client and
## TypeScript types, openapi-spec-validator, bounded schemathesis with a province and a city token.
test-contract: install
	@$(PY) -m pytest -q -p no:cacheprovider tests/contract tests/shared/test_contract.py tests/shared/test_one_idempotency.py

test-sqlite: install
	@env -u TEST_DATABASE_URL $(MAKE) --no-print-directory test

test-postgres: install
	@TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres} $(MAKE) --no-print-directory test

## Benchmarks: ratios against a baseline measured in the same run; figures in bench-results/.
bench: install
	$(PY) -m tests.bench $(BENCH)

## docker-compose.yml checked without a Docker engine.
compose-check: install
	$(PY) -m deploy.compose_check docker-compose.yml

clean:
	rm -rf var bench-results .pytest_cache
