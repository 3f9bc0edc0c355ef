# crew: two commands on a fresh machine.
#   make up     run the whole house (embedded NATS, every service, projector, query service)
#   make test   the whole suite: lint, types, unit, integration against a real nats-server
#   make bench  the house under load against the raw limits of NATS and DuckDB
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q --disable-pip-version-check
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
ARGS ?=

.PHONY: help up test lint debian-packages bench bench-full schemas clean

help:
	@sed -n 's/^#   //p' Makefile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	@touch $@ $(RUNTIME)

up: $(RUNTIME)
	$(BIN)/crew up $(ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crew house schemas services projections bench
	$(BIN)/lint-imports

# What the tests need from Debian: chromium for the browser tests (never a downloaded browser),
# docker-compose to validate compose.yaml, poppler-utils (pdftoppm) to render the report's PDF.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
debian-packages:
	@command -v chromium >/dev/null && command -v docker-compose >/dev/null && \
	  command -v pdftoppm >/dev/null || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose \
	     poppler-utils)

# JavaScript the browser tests inject (axe-core), pinned in package-lock.json; never a CDN.
NODE_TOOLS := node_modules/.installed
$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Side by side, a test file per worker (one per core, at most 4): most tests wait on real
# processes, so two cores run the suite in two thirds of the time. tests/ports.py keeps the
# workers' ports apart.
test: lint debian-packages $(NODE_TOOLS)
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile

bench: $(DEV)
	$(BIN)/python -m bench --size quick

bench-full: $(DEV)
	$(BIN)/python -m bench --size full

schemas: $(RUNTIME)
	$(BIN)/crew schemas --out docs/schemas
	$(BIN)/crew deploy-config --out deploy/nats.conf

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
