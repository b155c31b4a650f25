# Every target installs what it needs first, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install test lint format local clean

# The stamps live inside what they stand for, so `rm -rf .venv node_modules` re-installs.
install: $(VENV)/.installed node_modules/.installed

# Re-install only when a requirements file changed (idempotent and fast when nothing did).
$(VENV)/.installed: requirements.txt requirements-dev.txt functions/requirements.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions uspeedo_sandbox tests

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

local:
	@echo "make local is coming (issue #5): the whole gateway on this machine." >&2
	@exit 2

clean:
	rm -rf $(VENV) node_modules cdk.out .local .pytest_cache .mypy_cache .ruff_cache
