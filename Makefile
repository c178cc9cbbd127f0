# Every target that runs code depends on `venv` and `protos`, so any of them works as the very
# first command on a fresh clone with only python3 and make installed. Stamp files keep re-runs cheap.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
STUBS  := contract/v1/.generated

.PHONY: venv protos tools system-deps run test lint bench openapi screenshots clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

protos: $(STUBS)

$(STUBS): $(INSTALLED) $(PROTOS) protos/generate
	protos/generate $(BIN)/python
	touch $@

# The manifests' security scanner, checkov, in a venv of its own: checkov 3.3.30 requires
# packaging<24 and pytest 9.2 packaging>=24, so one venv cannot hold both with `pip check` clean.
# Pinned whole (deploy/checks/checkov-requirements.txt, checkov's pin also in pyproject.toml's
# `scan` extra) and installed without resolving or compiling (--no-deps --no-compile): 40 s of CPU.
TOOLS := .venv-tools
TOOLS_INSTALLED := $(TOOLS)/.installed
tools: $(TOOLS_INSTALLED)

$(TOOLS_INSTALLED): deploy/checks/checkov-requirements.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-compile -r $<
	$(TOOLS)/bin/python -m pip check --disable-pip-version-check
	touch $@

run: venv protos
	$(BIN)/python -m facade devstack

# What the suite needs beyond Python: a real PostgreSQL server and Debian's chromium (the console's
# browser tests). Checked on every run, installed only when missing (CI runs as root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v chromium >/dev/null; then \
	    echo "installing PostgreSQL and chromium (Debian packages)"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        $(SUDO) apt-get install -y -qq --no-install-recommends postgresql chromium >/dev/null; \
	fi
	@command -v kubectl >/dev/null || { echo "kubectl is needed (kubectl kustomize renders deploy/): install it from your distribution or Kubernetes' packages"; exit 1; }

test: venv protos tools system-deps
	$(BIN)/python -m pytest -n auto

lint: venv protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The console's screenshots in the README, taken in headless chromium with the example rules.
screenshots: venv protos system-deps
	$(BIN)/python -m tests.console_browser facade/console/screenshots

bench: venv protos
	$(BIN)/python -m bench

# facade/openapi.json is generated from the contract in contract/callback.py; commit the result.
openapi: venv protos
	$(BIN)/python -m facade openapi --output facade/openapi.json

clean:
	rm -rf $(VENV) $(TOOLS) .run .pytest_cache .ruff_cache .mypy_cache *.egg-info bench/results
	rm -f contract/v1/*_pb2.py contract/v1/*_pb2.pyi contract/v1/*_pb2_grpc.py $(STUBS)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
