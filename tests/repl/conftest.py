"""Fixtures for the REPL tests: a small dataset at a relative path and an app factory.

The dataset is the suite's synthetic one (`tests/conftest.py`: 20,000 records over two days
from 2026-11-20); the clock is fixed at `repl_support.NOW` (2026-11-22T00:00Z, where the data
ends), so `since 1h` always reads the same rows. Tests run with the data folder's parent as
the working directory and the source's location given as the relative path `data`, so no
temporary path appears on screen (snapshots stay identical from one run to the next).
Helpers are in `repl_support.py`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from starbase.config import Config, SourceConfig
from starbase.repl.app import StarbaseRepl
from starbase.repl.history import HistoryStore

from .repl_support import FixedClock, InlineBackend


@pytest.fixture(scope="session")
def repl_root(otel_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `data/` (a copy of the suite's dataset)."""
    root = tmp_path_factory.mktemp("repl")
    shutil.copytree(otel_data, root / "data")
    return root


@pytest.fixture
def config(repl_root: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.chdir(repl_root)
    return Config((SourceConfig("otel", "otel", "data"),))


@pytest.fixture
def make_app(config: Config, tmp_path: Path) -> Iterator[Callable[..., StarbaseRepl]]:
    """Build a REPL on the test data with a temporary history file and the fixed clock."""

    def build(**overrides: Any) -> StarbaseRepl:
        options: dict[str, Any] = {
            "history": HistoryStore(tmp_path / "history.ndjson"),
            "clock": FixedClock(),
            "sample_keys": False,
        }
        if "backend" not in overrides:
            options["backend"] = InlineBackend(overrides.get("config", config))
        options.update(overrides)
        return StarbaseRepl(options.pop("config", config), **options)

    yield build
