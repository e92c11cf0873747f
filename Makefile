# Two commands: `make demo` and `make test`. Both bootstrap .venv from constraints.txt on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov has its own environment: its pins conflict with ours (deploy/checkov-requirements.txt).
CHECKOV := $(VENV)/tools/checkov/bin/checkov

.PHONY: demo test lint typecheck unit browser checkov golden-update bench-api bench bench-query bench-storage bench-ingest clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(CHECKOV): deploy/checkov-requirements.txt
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/python -m pip install --quiet -r deploy/checkov-requirements.txt
	touch $(CHECKOV)

checkov: $(CHECKOV)

demo: $(STAMP)
	$(BIN)/python -m starbase.demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check starbase tests benchmarks deploy
	$(BIN)/ruff format --check starbase tests benchmarks deploy

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(CHECKOV) browser
	$(BIN)/pytest

# The web UI's tests drive Debian's Chromium headless; installed here when missing and root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the web UI tests need Debian's chromium: sudo apt-get install chromium"; exit 1; }

# Rewrite tests/golden/*.expected from the current compiler; review the diff before committing.
golden-update: $(STAMP)
	STARBASE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/test_golden.py

bench: $(STAMP)
	$(BIN)/python benchmarks/compile.py

# 10M synthetic records over 30 days (generated once into benchmarks/.data/, ~1 GB).
bench-query: $(STAMP)
	$(BIN)/python benchmarks/query.py

# Commit latency, files/bytes per day, bytes per record vs OTLP, planning at 10k files.
bench-storage: $(STAMP)
	$(BIN)/python benchmarks/storage.py

# OTLP/protobuf into `starbase router --workers 2` over loopback, durable acks (docs/router.md).
bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
