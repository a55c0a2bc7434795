# Two commands a newcomer needs: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3.11
VENV   ?= .venv
SECANTUS_VENV ?= .venv-secantus
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SECANTUS_STAMP := $(SECANTUS_VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test test-unit test-integration check format schemas bench clean system-packages

# SecantusDB is GPL-2.0: it lives in a virtual environment of its own and runs only as a
# separate process, so the services never import it.
$(SECANTUS_STAMP):
	$(PYTHON) -m venv $(SECANTUS_VENV)
	$(SECANTUS_VENV)/bin/pip install -q --upgrade pip
	$(SECANTUS_VENV)/bin/pip install -q "secantusdb==0.7.0b3"
	touch $@

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[embedded,dev]"
	touch $@

# Prometheus and Chromium come from Debian; installed when we are root, explained otherwise.
system-packages:
	@scripts/system-packages.sh

install: $(STAMP) $(SECANTUS_STAMP) system-packages

run: install
	$(BIN)/appeals up

# The browser tests run in a pytest process of their own: Playwright's sync API keeps an event
# loop running in the main thread, which pytest-asyncio's session loop cannot share.
test: install
	$(BIN)/pytest --ignore=tests/browser $(PYTEST_ARGS)
	$(BIN)/pytest tests/browser $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff format --check shared services tests
	$(BIN)/ruff check shared services tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format shared services tests
	$(BIN)/ruff check --fix shared services tests

# The full benchmark (own stack on free ports; docs/bench/ and BENCHMARKS.md explain the figures).
bench: install
	$(BIN)/appeals bench --duration 60 --rate 200 --out .appeals/bench/result.json \
		--chart .appeals/bench/bench.png

clean:
	rm -rf .appeals .pytest_cache .mypy_cache
