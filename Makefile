# The two commands of the README: `make serve` and `make test`.
# Both work on a stock Debian 12 / Ubuntu 24.04 machine with python3, python3-venv and make:
# they create the project's own virtualenv (.venv) once and re-install into it only when a
# packaging file changes (the stamp files below depend on them).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGING := setup.cfg pyproject.toml $(wildcard adapters/*/pyproject.toml)
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test install install-test venv lint bench conformance-report

## Serve the broker on http://127.0.0.1:8080/ (local adapter, ./broker.db, no config needed;
## with the docker plug-in, so local runs docker-container requests on this host's engine).
serve: $(SERVE_STAMP)
	$(PY) -m ivoa_broker.cli serve $(ARGS)

## Install platforms and test dependencies, then run the whole test suite
## (ARGS="tests/test_units.py -q" runs a selection) on WORKERS pytest-xdist workers: each
## platform's tests stay on one worker, which starts that platform once (see conftest.py);
## WORKERS=0 runs everything in this process.
WORKERS ?= 3
test: $(TEST_STAMP)
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup --no-loadscope-reorder $(ARGS)

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip

$(SERVE_STAMP): $(PACKAGING) | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e . -e ./adapters/local \
		-e ./adapters/docker
	touch $@

$(TEST_STAMP): $(PACKAGING) requirements-dev.txt .ci/install.sh $(wildcard .ci/install.d/*.sh) | $(PY)
	PYTHON="$(abspath $(PY))" bash .ci/install.sh
	touch $@ $(SERVE_STAMP)

install: $(SERVE_STAMP)

install-test: $(TEST_STAMP)

# ruff over everything; mypy strict over the core and every adapter package under
# adapters/ (found here, so a new adapter is checked without editing this file)
ADAPTER_ROOTS := $(wildcard adapters/*)
ADAPTER_PKGS := $(filter-out %.egg-info,$(wildcard adapters/*/ivoa_broker_*))
empty :=
space := $(empty) $(empty)

lint: $(TEST_STAMP)
	$(PY) -m ruff check ivoa_broker adapters conformance tests bench
	MYPYPATH=$(subst $(space),:,$(ADAPTER_ROOTS)) $(PY) -m mypy ivoa_broker $(ADAPTER_PKGS)

bench: $(SERVE_STAMP)
	command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(PY) bench/run.py
