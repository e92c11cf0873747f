"""The API writes values as `starbase query` does: Arrow's vectorized timestamp text equals
`format_iso` for every instant."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from starbase.api.encode import iso_texts
from starbase.compiler.timestamps import format_iso

NANOS = st.integers(min_value=-(10**18), max_value=4 * 10**18)


@given(st.lists(st.one_of(st.none(), NANOS, NANOS.map(lambda n: n - n % 1000)), max_size=50))
def test_iso_texts_equal_format_iso(values: list[int | None]) -> None:
    got = iso_texts(pa.array(values, pa.timestamp("ns", tz="UTC"))).to_pylist()
    assert got == [None if v is None else format_iso(v) for v in values]
