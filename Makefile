# The obvious targets. README.md's two commands are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: install install-test serve test lint bench services-up services-down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# native/ is the optional Rust fast path of the parse worker (needs cargo): without it metered
# runs the same on its Python path, slower. The test suite requires it.
install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet ./native || echo "metered-native not built (is cargo installed?): ingest takes the Python path"

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]' ./native

serve: install
	@echo "Your test-mode secret key:"
	@$(BIN)/metered keys create
	$(BIN)/metered serve --port $(PORT)

# Run a second time with every test server in distributed mode (PostgreSQL + Kafka, started by
# scripts/services when METERED_TEST_POSTGRES_URL / METERED_TEST_KAFKA are not set).
DISTRIBUTED_TESTS ?= tests/e2e tests/golden tests/billing tests/api tests/webhooks tests/client tests/cli tests/ops tests/dashboard

test: install-test
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/pytest -q
	METERED_TEST_DISTRIBUTED=1 $(BIN)/pytest -q -m "not embedded_only" $(DISTRIBUTED_TESTS)
	cd sdks/typescript && npm ci --no-audit --no-fund && METERED_PYTHON=$(abspath $(BIN))/python npm test

lint: install-test
	$(BIN)/ruff check src tests $(wildcard bench)

bench: install-test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

# PostgreSQL and Kafka on loopback for tests/integration (docs/operations.md). `make test` needs
# neither target: its fixtures start them when METERED_TEST_* are unset.
services-up:
	scripts/services up
	@scripts/services env

services-down:
	scripts/services down
