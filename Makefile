# Set-up and checks. Everything installs from scratch into .venv (Python >= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint docs bench peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

PLUGINS := tests/plugin_pkg/pyproject.toml examples/infergraph-sklearn/pyproject.toml

# What the main job needs, and nothing more: infergraph[examples].
$(VENV)/.run-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[examples]'
	touch $@

# The dev tools, and the plugins the tests install: a test plugin and the worked example.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(PLUGINS)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet ./tests/plugin_pkg
	$(BIN)/pip install --quiet -e examples/infergraph-sklearn
	touch $@

setup: $(VENV)/.installed  ## install infergraph[dev] and the test plugins into .venv

run: $(VENV)/.run-installed  ## the main job: the times table (pattern 4) on the Beam DirectRunner, local files
	$(BIN)/python examples/times_table/run.py

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

# Real peer servers (MLServer, KServe) in scratch venvs of their own, never in .venv: they pin
# versions that clash with TensorFlow and Beam.
PEERS ?= $(CURDIR)/.peers

peers: setup  ## the remote handler against real MLServer and KServe servers on 127.0.0.1
	bash tests/peers/setup.sh $(PEERS)
	INFERGRAPH_PEERS=$(PEERS) $(BIN)/python -m pytest tests/peers -q

clean:
	rm -rf $(VENV) out site build
