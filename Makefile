# shopfloor: `make demo` runs the demo plant, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# The suite runs on two processes (pytest-xdist): most of a test's time is spent waiting on
# the servers it starts, so two halve the wall time on a 2-core machine.
PYTEST_WORKERS ?= 2

.PHONY: demo test test-fast bench lint format install install-dev clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/shopfloor demo

# Pytest's exit code 5 (no test collected) must fail the run, not pass it.
test: $(VENV)/.installed-dev
	bash scripts/ensure-servers.sh
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not postgres and not browser" $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	bash scripts/ensure-servers.sh
	$(BIN)/python -m benchmarks

# PNGs of the dashboard's pages (scripts/screenshots.py PAGES) in docs/screenshots/, from the demo.
screenshots: $(VENV)/.installed-dev
	bash scripts/ensure-servers.sh
	$(BIN)/python scripts/screenshots.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) shopfloor-data .pytest_cache .ruff_cache
