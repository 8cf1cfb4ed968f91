# Two commands for a new user: `make demo` (the main job end to end) and `make test`.
# Everything else here is the bootstrap that makes those two work on a machine with only Python 3.11.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home

AGENTS ?= 20000
SEED   ?= 7

.PHONY: demo test install ui clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The main job: simulate a society -> ingest into DuckDB -> every analysis -> report.
demo: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines run --agents $(AGENTS) --seed $(SEED)
	@echo "report: data/report/index.html  findings: data/report/findings.json  database: data/observatory.duckdb"

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The Dagster UI on the same database and instance as `make demo`.
ui: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg dev

clean:
	rm -rf $(VENV) data .dagster_home
