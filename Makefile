# Set-up and checks. Everything installs from scratch into .venv (Python >= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml tests/plugin_pkg/pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet ./tests/plugin_pkg
	touch $@

setup: $(VENV)/.installed  ## install infergraph[dev] and the test plugin into .venv

run: setup  ## the main job: the 5 times table on the Beam DirectRunner, local files
	$(BIN)/python examples/five_times_table.py

lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy src

test: lint  ## ruff, mypy (strict) and the test suite
	$(BIN)/python -m pytest

docs: setup
	$(BIN)/mkdocs build --strict

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed  ## the benchmark suite, its chart, and the docs' numbers from it
	$(BIN)/python -m benchmarks --json benchmarks/results/full.json
	$(BIN)/python -m benchmarks.report

clean:
	rm -rf $(VENV) out site build
