# Quick start: `make export` (export the bundled sample) and `make test` (run the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One instance home for the `learning` CLI and `make dev`, so consent and runs are shared.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install export test dev benchmark clean

$(BIN)/learning: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/learning

# Dagster reads $DAGSTER_HOME/dagster.yaml only; the CLI seeds it the same way on first use.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The quick start exports the bundled sample, so it grants export consent for the sample explicitly;
# your own projects need `learning consent grant --source DIR` once, by you.
export: install
	$(BIN)/learning consent grant --source learning_assets/sample_data
	$(BIN)/learning export --output export

test: install
	$(BIN)/pytest -n 2 -q

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1

benchmark: install
	$(BIN)/python -m benchmarks.export

clean:
	rm -rf $(VENV) .dagster_home export
