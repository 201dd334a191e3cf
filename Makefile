# The obvious targets. README.md's two commands are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: install install-test serve test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

serve: install
	@echo "Your test-mode secret key:"
	@$(BIN)/metered keys create
	$(BIN)/metered serve --port $(PORT)

test: install-test
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/pytest -q

lint: install-test
	$(BIN)/ruff check src tests $(wildcard bench)

bench: install-test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
