# Two commands: `make demo` and `make test`. Both bootstrap .venv from constraints.txt on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov has its own environment: its pins conflict with ours (deploy/checkov-requirements.txt).
CHECKOV := $(VENV)/tools/checkov/bin/checkov

.PHONY: demo test lint typecheck unit browser checkov golden-update bench bench-query bench-spark bench-storage bench-ingest bench-decode bench-api bench-analyzer bench-raw bench-rules fuzz-native bench-startup bench-session bench-join clean

# setup.py builds the compiled OTLP decoder (starbase/router/native/*.c): its sources are inputs.
NATIVE := $(wildcard starbase/router/native/*.c starbase/router/native/*.h)

$(STAMP): pyproject.toml constraints.txt setup.py $(NATIVE)
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

# 10M synthetic records over 30 days (generated once into benchmarks/.data/, ~1 GB), against
# hand-written DataFusion, DuckDB and ClickHouse (chDB: the `bench` extra, installed here).
bench-query: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python benchmarks/query.py

# The query benchmark's questions on Spark local[2] against DataFusion, same files (1M rows).
bench-spark: $(STAMP)
	$(BIN)/python benchmarks/spark.py

# Commit latency, files/bytes per day, bytes per record vs OTLP, planning at 10k files.
bench-storage: $(STAMP)
	$(BIN)/python benchmarks/storage.py

# OTLP/protobuf into `starbase router --workers 2` over loopback, durable acks (docs/router.md).
bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

# µs per record of each OTLP commit stage (parse, convert in Python and compiled, sort, Parquet).
bench-decode: $(STAMP)
	$(BIN)/python benchmarks/otlp_decode.py

# The compiled OTLP decoder under AddressSanitizer + UBSan: a seed corpus, then mutants of it;
# then the OTLP/JSON walk on hypothesis documents.
FUZZ_RUNS ?= 200000
JSON_FUZZ_EXAMPLES ?= 5000
fuzz-native: $(STAMP)
	mkdir -p build/fuzz
	gcc -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer -o build/fuzz/fuzz_main starbase/router/native/fuzz_main.c \
	    starbase/router/native/decode.c starbase/router/native/columns.c \
	    starbase/router/native/rows.c starbase/router/native/text.c -lm
	$(BIN)/python tests/native_corpus.py build/fuzz/corpus
	build/fuzz/fuzz_main build/fuzz/corpus $(FUZZ_RUNS)
	# The OTLP/JSON walk (json.c reads Python objects): the extension under the same
	# sanitizers, loaded by this venv's Python with them preloaded.
	rm -rf build/fuzz/asan && mkdir -p build/fuzz/asan && cp -r starbase build/fuzz/asan/
	gcc -shared -fPIC -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer -I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
	    -o build/fuzz/asan/starbase/router/native/_otlp_arrow$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))') \
	    starbase/router/native/module.c starbase/router/native/decode.c \
	    starbase/router/native/columns.c starbase/router/native/rows.c \
	    starbase/router/native/text.c starbase/router/native/json.c -lm
	PYTHONPATH=build/fuzz/asan:tests ASAN_OPTIONS=detect_leaks=0 \
	    LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	    $(BIN)/python tests/native_json_fuzz.py $(JSON_FUZZ_EXAMPLES)

# starbase serve vs in-process: first row, 10M-row streams (peak RSS), tail delay, 50 clients.
bench-api: $(STAMP)
	$(BIN)/python benchmarks/api.py

# Template mining on Loghub-2k (vs Drain), held-out formats, analyze speed (docs/analyzer.md).
bench-analyzer: $(STAMP)
	$(BIN)/python benchmarks/analyzer.py

bench-raw: $(STAMP)
	$(BIN)/python -m benchmarks.raw_query

# 50 StarQL rules every 30 s over bench-query's 10M records: evaluation latency, missed rounds.
bench-rules: $(STAMP)
	$(BIN)/python benchmarks/rules.py

# `starbase --help`, compile and a small query: wall and CPU time, median of repeated runs.
bench-startup: $(STAMP)
	$(BIN)/python benchmarks/startup.py

# Queries in worker processes vs in process: first batch, throughput, cancel, respawn.
bench-session: $(STAMP)
	$(BIN)/python benchmarks/session.py

# join cost: 10M rows x a 100k-row right side, StarQL against DuckDB (docs/reference.md, joins)
bench-join: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python benchmarks/join.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
