# Every target installs what it needs first, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install test lint format local load clean synth deploy destroy cfn-lint

# The stamps live inside what they stand for, so `rm -rf .venv node_modules` re-installs.
install: $(VENV)/.installed node_modules/.installed

# Re-install only when a requirements file changed (idempotent and fast when nothing did).
$(VENV)/.installed: requirements.txt requirements-dev.txt functions/requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	# The `smsgw` console script, and the Lambda's package it imports the contract from.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --no-deps
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The Lambda runs Python 3.13: the runtime package's tests run under it too when this
# machine has one ($(SMS_GATEWAY_PYTHON313), pyenv's newest 3.13, or python3.13 on PATH),
# in a venv of their own with only what they need (requirements-py313.txt). Recursion
# limits and parsing differ between versions.
PY313 := $(or $(SMS_GATEWAY_PYTHON313),$(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13.[0-9]*/bin/python3.13))),$(shell command -v python3.13 2>/dev/null))
VENV313 := .venv-py313
# What is not the function's package: the CLI, the sandbox, the benchmark report, the
# size gate (they run under the venv's Python only).
NOT_RUNTIME_TESTS := --ignore-glob='tests/unit/test_cli_*' --ignore-glob='tests/unit/test_sandbox*' \
	--ignore=tests/unit/test_bench_report.py --ignore=tests/unit/test_code_size.py \
	--deselect=tests/unit/test_contract.py::test_the_cli_loads_none_of_the_functions_dependencies

test: install $(if $(PY313),$(VENV313)/.installed)
	$(BIN)/python -m pytest
ifneq ($(PY313),)
	$(VENV313)/bin/python -m pytest tests/unit -p no:cacheprovider $(NOT_RUNTIME_TESTS)
else
	@echo "no Python 3.13 on this machine: the runtime's tests ran under Python 3.11 only"
endif

$(VENV313)/.installed: requirements-py313.txt functions/requirements.txt constraints.txt
	@test -x $(VENV313)/bin/python || $(PY313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-py313.txt -c constraints.txt
	@touch $@

# Speed, as ratios against baselines measured in the same run: writes benchmarks/RESULTS.md
# and benchmarks/results.json, with each step's wall time (the whole must stay under ten
# minutes). The official SDK (client benchmark's baseline) is installed here only, never by
# install/test, and by the runner, so that its install is timed with the rest.
# BENCH_FLAGS, e.g. "--runs 20 --only cold_start,bundle".
.PHONY: bench bench-policy-full
BENCH_FLAGS ?=
bench: install
	$(BIN)/python -m benchmarks --requirements requirements-bench.txt $(BENCH_FLAGS)

# The protection fan-out at full size, 100,000 numbers: tens of minutes against moto, too
# long for make bench (which measures 2,000). Kept in benchmarks/fan_out_policy_full.json,
# with its date, commit and command; make bench shows the last record beside its own figure.
bench-policy-full: install
	out=$$(mktemp -d) && \
	BENCH_POLICY_NUMBERS=100000 $(BIN)/python -m benchmarks --only fan_out_policy --out $$out && \
	$(BIN)/python -m benchmarks --record-policy-full $$out/results.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions uspeedo_sandbox tests infra app.py smsgw local_gateway benchmarks

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole gateway on this machine: moto for AWS, the USpeedo sandbox, the real handler.
# Point it at the real provider with USPEEDO_ENDPOINT, USPEEDO_ACCESS_KEY_ID and
# USPEEDO_ACCESS_KEY_SECRET (and USPEEDO_ACCOUNT_ID) in the environment.
local: install
	$(BIN)/python -m local_gateway $(LOCAL_FLAGS)

# The load check at full size: 10,000 messages through SNS, SQS and the API with 5% of
# provider calls failing — every one sent once or parked with a reason. (make test runs it
# at 150; make bench runs it at 1,500 as its end-to-end benchmark, to stay within 10 minutes.)
load: install
	$(BIN)/python -m local_gateway.load --messages $(or $(LOAD_MESSAGES),10000)

clean:
	rm -rf $(VENV) $(VENV313) $(SCAN_VENV) node_modules cdk.out .local .pytest_cache .mypy_cache .ruff_cache

# The CDK app. Settings are context keys in cdk.json; override any of them per run, e.g.
# make deploy CDK_FLAGS="-c alarmEmail=oncall@example.com -c maxConcurrency=10"
CDK := npx cdk
CDK_FLAGS ?=
TEMPLATE := cdk.out/SmsGateway.template.json

# No AWS account, credentials or Docker needed. The function is bundled with pip for arm64
# (wheels from PyPI the first time, then from a local wheel cache: offline from then on).
synth: install
	$(CDK) synth --quiet $(CDK_FLAGS)

deploy: install
	$(CDK) deploy --outputs-file cdk-outputs.json $(CDK_FLAGS)

destroy: install
	$(CDK) destroy $(CDK_FLAGS)

# Errors fail the target; warnings are printed (CDK's own redundant DependsOn is one).
cfn-lint: synth
	$(BIN)/cfn-lint --non-zero-exit-code error $(TEMPLATE)

# Security scan: checkov on the synthesized template, in its own virtual environment
# (requirements-scan.txt; not part of `make test`). A finding fails the scan unless it is
# acknowledged, with its reason, on the resource it concerns (infra/nag.py,
# acknowledge_checkov); the second step fails on an acknowledgement nothing needs any more.
SCAN_VENV := .venv-scan
.PHONY: scan
scan: synth $(SCAN_VENV)/.installed
	$(SCAN_VENV)/bin/checkov --framework cloudformation --file $(TEMPLATE) --skip-download --compact --quiet
	$(SCAN_VENV)/bin/python -m infra.scan $(TEMPLATE)

$(SCAN_VENV)/.installed: requirements-scan.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	@touch $@
