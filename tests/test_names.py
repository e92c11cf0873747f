"""Names chosen by users never meet the names Starbase chooses for itself.

Source names come from the configuration and may hold any character (`"`, `.`, capitals,
spaces) or look like the tables Starbase registers for its own use; field names may be
anything a backticked name can hold, including those of internal columns (`__row`,
`__sort_0`) and subquery aliases (`q0`). Every such query runs and means what it says.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase import compile
from starbase.compiler.timestamps import parse_iso
from starbase.config import config_from_dict, default_config
from starbase.runtime.session import Session
from starbase.storage import write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")
MAP = pa.map_(pa.string(), pa.string())


def _write(root: Path, services: list[str]) -> Path:
    n = len(services)
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i for i in range(n)], pa.int64()),
                "severity_number": pa.array([9 + i for i in range(n)], pa.int32()),
                "body": [f"m{i}" for i in range(n)],
                "resource_attributes": pa.array([[("service.name", s)] for s in services], MAP),
            }
        ),
    )
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    one = _write(tmp_path_factory.mktemp("one"), ["a", "b", "a"])
    two = _write(tmp_path_factory.mktemp("two"), ["c"])
    return one, two


@pytest.mark.parametrize(
    "name",
    ['we"ird', "a.b", "Upper", "x y", "__insights_0", "starbase_internal", "otel__incoming"],
)
def test_any_source_name_is_quoted(folders: tuple[Path, Path], name: str) -> None:
    one, two = folders
    sources = {
        name: {"format": "otel", "location": str(one)},
        "otel": {"format": "otel", "location": str(two)},  # its tables: otel__incoming, …
    }
    config = config_from_dict({"sources": sources})
    session = Session(config)
    quoted = "`" + name + "`"
    own = session.compile(f"from {quoted} | stats count() as n")
    assert session.run(own).to_pylist() == [{"n": 3}]
    both = session.compile("from * | stats count() as n by source | sort source")
    got = session.run(both).to_pylist()
    assert sorted((r["source"], r["n"]) for r in got) == sorted([(name, 3), ("otel", 1)])


@pytest.mark.parametrize("field", ["__row", "__sort_0", "__sort_1", "q0", "q1", "`sort0"[1:]])
def test_fields_named_like_internal_columns(folders: tuple[Path, Path], field: str) -> None:
    one, _ = folders
    config = default_config(one)
    name = f"`{field}`"
    text = (
        f"from otel | extend {name} = severity * 10 | sort {name} desc, message"
        f" | dedup service | fields service, {name} | sort service"
    )
    got = compile(text, config).run().to_pylist()
    assert got == [{"service": "a", field: 110}, {"service": "b", field: 100}]
    ordered = compile(
        f"from otel | extend {name} = message | sort severity desc | fields {name} | limit 2",
        config,
    ).run()
    assert ordered.column_names == [field]
    assert ordered.column(field).to_pylist() == ["m2", "m1"]
