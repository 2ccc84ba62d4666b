# skybridge task runner: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: help install system-deps run test lint format bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> [1/3] creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] upgrading pip"
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	@echo "==> [3/3] installing skybridge with every extra (first time: a few minutes, ~2 GB with the CPU build of torch)"
	set -o pipefail; $(BIN)/python -m pip install --disable-pip-version-check -e '.[all,dev]' \
		| { grep --line-buffered -E '^(Collecting|Installing|Successfully)' || true; }
	touch $(STAMP)
	@echo "==> ready: the CLI is $(BIN)/skybridge (or: source $(BIN)/activate)"

install: $(STAMP) ## Create .venv and install skybridge with every extra

system-deps: ## Install the servers and browser the tests start (redis-server, chromium; apt)
	@echo "==> system packages the tests start (redis-server, chromium)"
	@scripts/install-system-deps

run: $(STAMP) ## Start the service with embedded backends and demo data on http://127.0.0.1:8080
	$(BIN)/skybridge up --demo --host $(HOST) --port $(PORT)

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict src (and the example app)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy --strict src
	MYPYPATH=examples/apps/hello $(BIN)/mypy --strict -p skybridge_hello

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

test: $(STAMP) system-deps lint ## Lint, then run every test against real local servers
	@VENV=$(VENV) scripts/run-tests $(PYTEST_ARGS)

ANCHORS_VENV ?= .venv-anchors
ANCHORS_STAMP := $(ANCHORS_VENV)/.installed-stamp

# Anchors (e.g. Quix Streams) pin versions that conflict with ours, so they get their own venv
# (no --system-site-packages); benchmarks run them as subprocesses with its interpreter.
$(ANCHORS_STAMP): benchmarks/anchors/requirements.txt benchmarks/anchors/feast.txt
	$(PYTHON) -m venv $(ANCHORS_VENV)
	$(ANCHORS_VENV)/bin/python -m pip install -q --upgrade pip
	$(ANCHORS_VENV)/bin/python -m pip install -q -r benchmarks/anchors/requirements.txt
	touch $(ANCHORS_STAMP)

# BENCH=assertions runs one script (a glob over benchmarks/*.py, without the .py).
BENCH ?= [!_]*

bench: $(STAMP) $(ANCHORS_STAMP) ## Run every benchmark (BENCH=name: one); each prints ours/anchor ratios
	@shopt -s nullglob; failed=(); \
	for script in benchmarks/$(BENCH).py; do \
		echo "== $$script"; $(BIN)/python "$$script" || failed+=("$$script"); \
	done; \
	if [ $${#failed[@]} -gt 0 ]; then \
		echo "== a claim failed or the script broke in: $${failed[*]}" >&2; exit 1; \
	fi

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) $(ANCHORS_VENV) .venv-feast .venv-feast.lock .skybridge .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
