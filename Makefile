# The two commands: `make up` runs the platform on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test install system-deps lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,tracing]'
	touch $@

install: $(BIN)/.installed

up: install
	$(BIN)/streamstack up

system-deps:
	bash scripts/install-system-deps

test: install system-deps
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench
