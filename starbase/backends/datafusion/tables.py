"""Where each stored format's table lives and how DataFusion reads it, one snapshot per query.

Requires: a configured source whose format is stored by Starbase (`otel`, and `cloudwatch`
with a location: the events Firehose delivers; see `STORED`) and its location (a local folder
or `s3://bucket/prefix`). Guarantees:
`register` makes the source readable in DataFusion under its name: a listing table over the
table's `v2/` folder (in the schema `INTERNAL_SCHEMA`, so no source name can meet it; the
format's file schema given explicitly, so an empty table is queryable, and the hive
partitions `day` and `by`, reading only `.parquet` files) and a view named like the source
(any name: identifiers are always quoted) that admits only what the table's latest committed
state makes visible (`storage.table.Visibility`), with the format's columns followed by `day`
(or, per `READ_AS`, the columns its mapping names; a column stored as null where it equals
another, `TableFormat.same_as`, read back with `coalesce`). While the table still holds files of the
legacy layout (hour × key folders, hex ids) the view also reads those, converted to the same
columns, through two more listing tables registered on first need.
`StoredSource.refresh` re-reads the commit log's head and replaces the view when it moved, so
each query sees one snapshot: every committed file once, nothing uncommitted, nothing twice
during compaction. S3 locations get an object store for their bucket with the source's
endpoint, region and credentials.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext
from datafusion.object_store import AmazonS3

from starbase.config import SourceConfig
from starbase.storage.formats import TableFormat
from starbase.storage.index import LAYOUT_DIR, State
from starbase.storage.store import S3Location
from starbase.storage.table import Table, Visibility, open_table


class SourceUnavailable(Exception):
    """A source's data cannot be reached; the message says which and why, in one line."""


INTERNAL_SCHEMA = "starbase_internal"  # tables Starbase registers for itself


def quote(name: str) -> str:
    """`name` as a DataFusion SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def internal_table(source: str, part: str) -> str:
    """The SQL name of a stored source's listing table for `part` (v2; legacy: incoming,
    compacted)."""
    return f"{INTERNAL_SCHEMA}.{quote(f'{source}__{part}')}"


# source format (mapping name) -> stored table format
STORED = {"otel": "otel", "cloudwatch": "cloudwatch", "raw": "raw"}

# How a stored table spells its mapping's columns when they differ from the table's own. The
# CloudWatch events that Firehose delivers are read with `cloudwatch.yaml`, written for Logs
# Insights: its `@`-columns are the stored columns renamed (`@log` is "owner:log group", as
# Insights shows it).
READ_AS: dict[str, tuple[tuple[str, str], ...]] = {
    "cloudwatch": (
        ("@timestamp", '"timestamp"'),
        ("@ingestionTime", 'CAST("received_time_unix_nano" / 1000000 AS BIGINT)'),
        ("@message", '"message"'),
        ("@logStream", '"log_stream"'),
        ("@log", """concat(coalesce("owner", ''), ':', "log_group")"""),
    ),
}


@dataclass
class StoredSource:
    """A registered source and the snapshot its view shows."""

    name: str
    table: Table
    shown: State | None = None
    legacy_registered: bool = False
    raw_source: str | None = None  # a raw source reads only the lines posted under this name

    def refresh(self, ctx: SessionContext) -> State:
        """Point the view at the latest committed state; returns that state."""
        try:
            state = self.table.snapshot()
        except Exception as exc:  # the store's own errors (I/O, S3) differ per backend
            where = self.table.store.url("_log/")
            raise SourceUnavailable(
                f"source '{self.name}': cannot read its index at {where}: {exc}"
            ) from None
        if state != self.shown:
            if state.legacy and not self.legacy_registered:
                _register_legacy(ctx, self.name, self.table)
                self.legacy_registered = True
            visible = self.table.visibility(state)
            ctx.sql(view_sql(self.name, self.table, visible, self.raw_source)).collect()
            self.shown = state
        return state


def view_sql(name: str, table: Table, visible: Visibility, raw_source: str | None = None) -> str:
    """The view that turns the listing tables into the snapshot `visible`.

    The legacy sides are there only while the state counts legacy files (a union costs
    DataFusion ~5-15% on full scans).
    """
    fmt = table.format
    names = [*fmt.schema.names, *fmt.partitions]
    state = visible.state
    rows = f" AND {visible.rows}" if visible.rows else ""
    if raw_source is not None:
        rows += ' AND "source" = \'' + raw_source.replace("'", "''") + "'"
    sides = []
    if state.files > state.legacy or state.files == 0:
        columns = ", ".join(
            f"coalesce({quote(c)}, {quote(fmt.same_as[c])}) AS {quote(c)}"
            if c in fmt.same_as
            else quote(c)
            for c in names
        )
        current = internal_table(name, LAYOUT_DIR)
        sides.append(f"SELECT {columns} FROM {current} WHERE {visible.folders}{rows}")
    if state.legacy:
        columns = ", ".join(_legacy_column(fmt, c) for c in names)
        for part, where in (
            ("incoming", visible.legacy_incoming),
            ("compacted", visible.legacy_compacted),
        ):
            sides.append(f"SELECT {columns} FROM {internal_table(name, part)} WHERE {where}{rows}")
    union = " UNION ALL ".join(sides)
    renamed = READ_AS.get(fmt.name)
    if renamed is not None:
        columns = ", ".join(f"{expr} AS {quote(column)}" for column, expr in renamed)
        union = f"SELECT {columns} FROM ({union})"
    return f"CREATE OR REPLACE VIEW {quote(name)} AS {union}"


def _legacy_column(fmt: TableFormat, column: str) -> str:
    """A column of the file schema computed from a legacy file's row and its folders."""
    if column in fmt.ids:
        width = fmt.ids[column]
        decoded = f"decode({quote(column)}, 'hex')"
        return f"arrow_cast({decoded}, 'FixedSizeBinary({width})') AS {quote(column)}"
    if column == "day":
        return 'substr("hour", 1, 10) AS "day"'
    return quote(column)  # a file column, or the key partition of the same name


def _register_legacy(ctx: SessionContext, name: str, table: Table) -> None:
    fmt = table.format
    for part, version in (("incoming", "c"), ("compacted", "g")):
        ctx.register_listing_table(
            internal_table(name, part),
            table.url(part),
            table_partition_cols=[
                ("hour", pa.string()),
                (fmt.key, pa.string()),
                (version, pa.string()),
            ],
            file_extension=".parquet",
            schema=fmt.legacy_schema,
        )


def register(ctx: SessionContext, source: SourceConfig) -> StoredSource:
    """Register `source` in `ctx` as a view named like the source; see the module docstring."""
    stored = STORED.get(source.format)
    if stored is None:
        raise SourceUnavailable(
            f"source '{source.name}': format '{source.format}' is not stored by Starbase"
        )
    location = source.location
    if not location:
        raise SourceUnavailable(f"source '{source.name}' has no location")
    if location.startswith("s3://"):
        table = open_table(location, stored, s3=_s3(ctx, source, location))
    else:
        root = Path(location).expanduser()
        if not root.is_dir():
            raise SourceUnavailable(
                f"source '{source.name}': data folder {root} does not exist "
                "(start the router, or pass --data DIR / set STARBASE_DATA)"
            )
        table = open_table(root, stored)
        (root / table.format.directory / LAYOUT_DIR).mkdir(parents=True, exist_ok=True)
    ctx.sql(f"CREATE SCHEMA IF NOT EXISTS {INTERNAL_SCHEMA}").collect()
    ctx.register_listing_table(
        internal_table(source.name, LAYOUT_DIR),
        table.url(LAYOUT_DIR),
        table_partition_cols=[("day", pa.string()), ("by", pa.string())],
        file_extension=".parquet",
        schema=table.format.schema,
    )
    raw_source = None
    if stored == "raw":
        from starbase.mappings.raw_sources import RawSourceError, raw_source_name

        try:
            raw_source = raw_source_name(source)
        except RawSourceError as exc:
            raise SourceUnavailable(str(exc)) from None
    registered = StoredSource(source.name, table, raw_source=raw_source)
    registered.refresh(ctx)
    return registered


def open_source_table(source: SourceConfig) -> Table:
    """The stored table behind `source` (no DataFusion involved): for maintenance commands."""
    stored = STORED.get(source.format)
    if stored is None or not source.location:
        raise SourceUnavailable(f"source '{source.name}' is not a table stored by Starbase")
    if source.location.startswith("s3://"):
        return open_table(source.location, stored, s3=s3_location(source, source.location))
    return open_table(Path(source.location).expanduser(), stored)


def s3_location(source: SourceConfig, location: str) -> S3Location:
    """Bucket, prefix, endpoint, region and credentials of an `s3://` source."""
    parsed = urlparse(location)
    options = source.options
    key_id = str(options.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID", "")) or None
    secret = (
        str(options.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY", "")) or None
    )
    return S3Location(
        parsed.netloc,
        parsed.path.strip("/"),
        endpoint=source.endpoint,
        region=source.region or os.environ.get("AWS_REGION") or "us-east-1",
        access_key_id=key_id,
        secret_access_key=secret,
    )


def _s3(ctx: SessionContext, source: SourceConfig, location: str) -> S3Location:
    s3 = s3_location(source, location)
    if s3.endpoint:
        _reachable(source.name, s3.endpoint)
    store = AmazonS3(
        bucket_name=s3.bucket,
        region=s3.region,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        endpoint=s3.endpoint,
        allow_http=bool(s3.endpoint and s3.endpoint.startswith("http://")),
    )
    ctx.register_object_store("s3://", store, s3.bucket)  # scheme + host: one store per bucket
    return s3


def _reachable(name: str, endpoint: str, timeout: float = 3.0) -> None:
    """Fail fast on an endpoint nobody answers (the object store's own retries take minutes)."""
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            pass
    except OSError as exc:
        raise SourceUnavailable(
            f"source '{name}': S3 endpoint {endpoint} is unreachable ({exc.strerror or exc})"
        ) from None
