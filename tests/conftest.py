"""Shared fixtures: a small, deterministic OTel dataset on disk (session-wide).

Other test modules may append fixtures below; keep each one documented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from starbase.compiler.timestamps import parse_iso

DATASET_START = parse_iso("2026-11-20T00:00:00Z")
DATASET_SPAN = 2 * 86_400 * 1_000_000_000
DATASET_ROWS = 20_000
DATASET_SEED = 7


@pytest.fixture(scope="session")
def otel_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding DATASET_ROWS synthetic OTel records over two days from
    DATASET_START, written in the stored layout (`<dir>/otel/logs/hour=…/service=…/`)."""
    from starbase.storage.synthetic import write_dataset

    root = tmp_path_factory.mktemp("otel-data")
    write_dataset(
        root, DATASET_ROWS, start_ns=DATASET_START, span_ns=DATASET_SPAN, seed=DATASET_SEED
    )
    return root
