# aiaas: `make dev` runs the platform locally (embedded mode); `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
WEB_STAMP := src/aiaas/static/index.html
PYTEST_ARGS ?=

.PHONY: dev install install-dev install-embeddings web web-check eval-deps migrate demo serve worker test test-fast lint format type-check security bench eval e2e clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[prod]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[prod,dev]'
	touch $(STAMP_RUN) $@

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_STAMP): web/node_modules/.package-lock.json $(shell find web/src web/index.html web/vite.config.ts -type f 2>/dev/null)
	cd web && npm run build
	rm -rf src/aiaas/static && mkdir -p src/aiaas/static && cp -r web/dist/. src/aiaas/static/

web: $(WEB_STAMP)  ## build the dashboard and widget into the package

web-check: web/node_modules/.package-lock.json  ## type-check, lint and unit-test the dashboard
	cd web && npm run typecheck && npm run lint && npm test

migrate: install
	$(BIN)/aiaas migrate up

demo: migrate
	$(BIN)/aiaas demo

serve: install
	$(BIN)/aiaas serve

worker: install
	$(BIN)/aiaas worker

dev: install web demo  ## install, build the UI, migrate, seed the demo tenant, serve on :8000
	$(BIN)/aiaas serve

test: install-dev web web-check  ## the whole suite (real services when AIAAS_TEST_SERVICES=required)
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: install-dev
	$(BIN)/pytest -q -x -m "not slow and not e2e" $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff format --check src tests bench eval
	$(BIN)/ruff check src tests bench eval

format: install-dev
	$(BIN)/ruff format src tests bench eval
	$(BIN)/ruff check --fix src tests bench eval

type-check: install-dev
	$(BIN)/mypy

security: install-dev  ## bandit on the code, pip-audit on the installed dependencies
	$(BIN)/bandit -q -r src -c pyproject.toml
	$(BIN)/pip freeze --exclude-editable | $(BIN)/pip-audit --progress-spinner off --strict --no-deps --disable-pip -r /dev/stdin

bench: install-dev  ## every benchmark; figures in bench/README.md (needs wrk: apt-get install wrk)
	$(BIN)/python -m bench.gateway_overhead
	$(BIN)/python -m bench.router_decide
	$(BIN)/python -m bench.orchestrator_overhead
	$(BIN)/python -m bench.ingestion_search
	$(BIN)/python -m bench.realtime

# The local embedding models (ingestion and the router's hybrid intents). torch goes first, pinned:
# a bare requirement would pull a CUDA build.
install-embeddings: install-dev  ## the optional local embedding extras (CI runs their tests)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[prod,dev,embeddings-local,router-embeddings]'

eval-deps: install-embeddings

eval: eval-deps  ## retrieval quality, intent accuracy, routing simulation (eval/README.md)
	HF_HUB_OFFLINE=1 $(BIN)/python -m eval.retrieval.run
	OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 $(BIN)/python -m eval.router.intents
	$(BIN)/python -m eval.router.simulate

clean:
	rm -rf $(VENV) web/node_modules web/dist src/aiaas/static .pytest_cache .mypy_cache .ruff_cache
