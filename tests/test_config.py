"""Sources configuration: starbase.toml (contract §6) and the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from starbase.config import ConfigError, data_dir, default_config, load_config


def test_contract_shape_loads(tmp_path: Path) -> None:
    path = tmp_path / "starbase.toml"
    path.write_text(
        """
[sources.otel]
format = "otel"
location = "s3://bucket/prefix"
endpoint = "http://127.0.0.1:5000"
region = "us-east-1"

[sources.lambda]
format = "cloudwatch"
log_groups = ["/aws/lambda/checkout", "/aws/lambda/payments"]
region = "us-east-1"
endpoint = "http://127.0.0.1:5000"
profile = "emulator"
"""
    )
    config = load_config(path)
    assert config.names == ("otel", "lambda")
    lam = config.source("lambda")
    assert lam is not None
    assert lam.log_groups == ("/aws/lambda/checkout", "/aws/lambda/payments")
    assert lam.profile == "emulator"


def test_default_is_one_otel_source_over_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STARBASE_DATA", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    config = default_config()
    assert [(s.name, s.format, s.location) for s in config.sources] == [
        ("otel", "otel", str(tmp_path / "env"))
    ]


def test_per_user_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STARBASE_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "starbase"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no [sources.NAME] tables"),
        ("[sources.a]\nlocation = 'x'\n", "sources.a.format is required"),
        ("[sources.a]\nformat = 'otel'\nlog_groups = 'x'\n", "must be a list of strings"),
        ("[sources.a]\nformat = 'otel'\nregion = 3\n", "sources.a.region must be a string"),
        ("[sources.a\n", "starbase.toml"),
    ],
)
def test_broken_files_name_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "starbase.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)
