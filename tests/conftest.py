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
    DATASET_START, written in the stored layout (`<dir>/otel/logs/v2/day=…/`)."""
    from synthetic import write_dataset

    root = tmp_path_factory.mktemp("otel-data")
    write_dataset(
        root, DATASET_ROWS, start_ns=DATASET_START, span_ns=DATASET_SPAN, seed=DATASET_SEED
    )
    return root


# ---------------------------------------------------------------- hypothesis profiles
# `dev` (the default) explores randomly and remembers failures in .hypothesis/; `ci` (chosen
# when CI=true, or by HYPOTHESIS_PROFILE=ci) is derandomized, so a CI run is reproducible;
# `thorough` (HYPOTHESIS_PROFILE=thorough) runs ten times as many examples, for local hunting.
# Property tests scale their example counts by the profile's max_examples / 100.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", settings.get_profile("dev"), derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", settings.get_profile("dev"), max_examples=1000)
_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _CI else "dev"))


# ---------------------------------------------------------------- a local S3 (moto's server)
import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from moto.server import ThreadedMotoServer  # noqa: E402

from starbase.devenv import free_port  # noqa: E402


def moto_server() -> Iterator[str]:
    """A moto server of our own on a free port of 127.0.0.1 (a generator for fixtures). Its
    data lives in moto's process-wide backends: isolate modules by region or bucket name."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, CloudWatch Logs, …) on a free port of 127.0.0.1, for the session."""
    yield from moto_server()


# ---------------------------------------------------------------- the analyzer's models
@pytest.fixture(scope="session")
def analyzer_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Small analyzer models (40 generated lines per format, ~2 s), saved as the base models of
    a private cache folder ($XDG_CACHE_HOME) so that CLI commands run in-process load them."""
    from starbase.analyzer import models

    cache = tmp_path_factory.mktemp("analyzer-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    trained = models.train(per_format=40)
    models.save(trained, models.base_model_path())
    try:
        yield trained
    finally:
        if previous is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = previous


# ---------------------------------------------------------------- a table that is slow to aggregate


@pytest.fixture(scope="session")
def heavy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose `heavy_data.HEAVY_QUERY` runs for seconds (tests of cancel)."""
    from heavy_data import write_heavy

    return write_heavy(tmp_path_factory.mktemp("heavy-data"))
