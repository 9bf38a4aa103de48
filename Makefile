# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
export PYTHON

.PHONY: serve test install install-test lint bench conformance-report

## Serve the broker on http://127.0.0.1:8080/ (local adapter, ./broker.db, no config needed).
serve: install
	$(PYTHON) -m ivoa_broker.cli serve $(ARGS)

install:
	$(PYTHON) -m pip install -q --disable-pip-version-check -e . -e ./adapters/local

## Install platforms and test dependencies, then run the whole test suite.
test: install-test
	$(PYTHON) -m pytest

install-test:
	bash .ci/install.sh

# ruff over everything; mypy strict over the core and every adapter package under
# adapters/ (found here, so a new adapter is checked without editing this file)
ADAPTER_ROOTS := $(wildcard adapters/*)
ADAPTER_PKGS := $(filter-out %.egg-info,$(wildcard adapters/*/ivoa_broker_*))
empty :=
space := $(empty) $(empty)

lint:
	$(PYTHON) -m ruff check ivoa_broker adapters conformance tests bench
	MYPYPATH=$(subst $(space),:,$(ADAPTER_ROOTS)) $(PYTHON) -m mypy ivoa_broker $(ADAPTER_PKGS)

bench: install
	command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(PYTHON) bench/run.py
