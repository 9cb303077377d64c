# Spotcheck — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint run test test-python test-sqlite test-postgres test-contract bench compose-check k8s-check test-faults clean web-build web-test web-api

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# TypeScript types generated from the API in tests/contract (pinned; skipped there without npm)
	@if command -v npm >/dev/null 2>&1; then npm install --silent --no-audit --no-fund --prefix $(VENV)/node openapi-typescript@7.13.0 typescript@5.9.3 || echo "npm install failed: TypeScript contract check will be skipped"; fi
	@touch $(STAMP)

install: $(STAMP)

## The web app (web/): npm ci when package-lock.json changed, vite build when a source is newer than
## web/dist; without node the stack runs without the UI (API and /docs only).
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package-lock.json
web/node_modules/.package-lock.json: web/package-lock.json
	@cd web && npm ci --no-audit --no-fund

web/dist/index.html: $(WEB_SOURCES) web/node_modules/.package-lock.json
	@cd web && npm run build

web-build:
	@if command -v node >/dev/null 2>&1; then $(MAKE) --no-print-directory web/dist/index.html; \
	 else echo "node 不可用：不构建网页界面（API 与 /docs 照常可用）。安装 Node 20 后重新运行。"; fi

## Vitest unit tests of the web app (stores, components, helpers).
web-test:
	@if command -v node >/dev/null 2>&1; then $(MAKE) --no-print-directory web/node_modules/.package-lock.json && cd web && npx vitest run; \
	 else echo "node 不可用：跳过 vitest"; fi

## Regenerate the typed API client from the merged OpenAPI of the code (no running stack needed).
web-api: install
	$(PY) -m gateway.openapi_dump web/openapi.json
	cd web && npx openapi-typescript openapi.json -o src/api/schema.d.ts && npx vue-tsc --noEmit

## Everything up on SQLite under var/, NATS started (or reused via NATS_URL), Shanxi demo data.
run: install web-build
	$(VENV)/bin/spotcheck run $(RUN_ARGS)

## Static check: unused imports/names, undefined names.
lint: install
	$(PY) -m pyflakes shared gateway services tests deploy

## The whole suite. TEST_DATABASE_URL=postgresql://... runs it on PostgreSQL, else SQLite files.
test: install web-build web-test test-python

## The Python tests alone (no web build, no vitest). SPOTCHECK_DB_TESTS_ONLY=1 keeps only the tests
## that reach the database (the second backend's pass of .ci/run; see tests/conftest.py).
test-python: install
	@$(PY) -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS); rc=$$?; \
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
	@$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m tests.bench $(BENCH)

## docker-compose.yml checked without a Docker engine.
compose-check: install
	$(PY) -m deploy.compose_check docker-compose.yml

## Fault suite: outages under load on a private PostgreSQL and NATS (minutes); figures in bench-results/faults.json.
test-faults: install
	@SPOTCHECK_FAULTS=1 $(PY) -m pytest -q -p no:cacheprovider -s tests/faults $(PYTEST_ARGS); rc=$$?; \
	 if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

## Kubernetes manifests checked offline: kustomize build of each overlay, strict schema validation.
k8s-check: install
	$(PY) -m deploy.k8s.check

clean:
	rm -rf var bench-results .pytest_cache
