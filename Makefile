# The two commands: `make up` runs the platform on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test install system-deps lint checkov loadtest

# checkov has pinned dependencies of its own: a venv of its own, used by tests/infra.
CHECKOV_VERSION ?= 3.3.30
CHECKOV := .venv-checkov/bin/checkov

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,tracing]'
	touch $@

HLS_JS := src/streamstack/web/static/vendor/hls.min.js

install: $(BIN)/.installed $(HLS_JS)

# hls.js comes from the npm registry at install time (pinned in the script), never copied into the repo.
$(HLS_JS): scripts/fetch-hls-js
	bash scripts/fetch-hls-js || echo "hls.js not vendored (npm missing?): the console player will say so" >&2

# The RTMP ingest's nginx module is installed when it can be (as root); otherwise `up` says once that RTMP is off.
up: install
	bash scripts/install-system-deps --ingest || echo "nginx RTMP module not installed: live RTMP ingest is off" >&2
	$(BIN)/streamstack up

system-deps:
	bash scripts/install-system-deps

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

checkov: $(CHECKOV)

test: system-deps install $(CHECKOV)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench loadtest

# The live-event spike (docs/capacity.md): N -> 10N viewers in 60 s, edge alone, two tiers, nginx; a table.
# Options after ARGS=, e.g. `make loadtest ARGS="--start 50 --runs ll:edge"`.
loadtest: install
	$(BIN)/python -m loadtest $(ARGS)
