# Two commands: `make demo` and `make test`. Both bootstrap .venv from constraints.txt on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit golden-update bench bench-query bench-storage bench-ingest clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m starbase.demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check starbase tests benchmarks
	$(BIN)/ruff format --check starbase tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# Rewrite tests/golden/*.expected from the current compiler; review the diff before committing.
golden-update: $(STAMP)
	STARBASE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/test_golden.py

bench: $(STAMP)
	$(BIN)/python benchmarks/compile.py

# 10M synthetic records over 30 days (generated once into benchmarks/.data/, ~1 GB), against
# hand-written DataFusion, DuckDB and ClickHouse (chDB: the `bench` extra, installed here).
bench-query: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python benchmarks/query.py

# Commit latency, files/bytes per day, bytes per record vs OTLP, planning at 10k files.
bench-storage: $(STAMP)
	$(BIN)/python benchmarks/storage.py

# OTLP/protobuf into `starbase router --workers 2` over loopback, durable acks (docs/router.md).
bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
