"""Where each stored format's table lives and how DataFusion reads it, one snapshot per query.

Requires: a configured source whose format is stored by Starbase (`otel`, and `cloudwatch`
with a location: the events Firehose delivers; see `STORED`) and its location (a local folder
or `s3://bucket/prefix`). Guarantees:
`register` makes the source readable in DataFusion under its name: two listing tables over the
table's `incoming/` and `compacted/` folders (in the schema `INTERNAL_SCHEMA`, so no source name
can meet them; the format's physical schema given explicitly, so
an empty table is queryable, and the hive partitions, reading only `.parquet` files) and a view
named like the source (any name: identifiers are always quoted) that admits only what the
table's latest committed state makes visible
(`storage.table.Visibility`), with the format's columns followed by its two partition columns
(or, per `READ_AS`, the columns its mapping names).
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
from starbase.storage.index import State
from starbase.storage.store import S3Location
from starbase.storage.table import Table, Visibility, open_table


class SourceUnavailable(Exception):
    """A source's data cannot be reached; the message says which and why, in one line."""


INTERNAL_SCHEMA = "starbase_internal"  # tables Starbase registers for itself


def quote(name: str) -> str:
    """`name` as a DataFusion SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def internal_table(source: str, part: str) -> str:
    """The SQL name of a stored source's listing table for `part` (incoming, compacted)."""
    return f"{INTERNAL_SCHEMA}.{quote(f'{source}__{part}')}"


# source format (mapping name) -> stored table format
STORED = {"otel": "otel", "cloudwatch": "cloudwatch"}

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
            ctx.sql(view_sql(self.name, self.table, Visibility(state))).collect()
            self.shown = state
        return state


def view_sql(name: str, table: Table, visible: Visibility) -> str:
    """The view that turns the two listing tables into the snapshot `visible`.

    A side without live files is left out (a union costs DataFusion ~5-15% on full scans).
    """
    fmt = table.format
    renamed = READ_AS.get(fmt.name)
    if renamed is None:
        columns = ", ".join(quote(c) for c in [*fmt.schema.names, *fmt.partitions])
    else:
        columns = ", ".join(f"{expr} AS {quote(column)}" for column, expr in renamed)
    state = visible.state
    sides = []
    if state.incoming or state.files == 0:
        incoming = internal_table(name, "incoming")
        sides.append(f"SELECT {columns} FROM {incoming} WHERE {visible.incoming}")
    if state.files > state.incoming:
        compacted = internal_table(name, "compacted")
        sides.append(f"SELECT {columns} FROM {compacted} WHERE {visible.compacted}")
    return f"CREATE OR REPLACE VIEW {quote(name)} AS " + " UNION ALL ".join(sides)


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
        for part in ("incoming", "compacted"):
            (root / table.format.directory / part).mkdir(parents=True, exist_ok=True)
    fmt = table.format
    ctx.sql(f"CREATE SCHEMA IF NOT EXISTS {INTERNAL_SCHEMA}").collect()
    for part, version in (("incoming", "c"), ("compacted", "g")):
        ctx.register_listing_table(
            internal_table(source.name, part),
            table.url(part),
            table_partition_cols=[
                ("hour", pa.string()),
                (fmt.key, pa.string()),
                (version, pa.string()),
            ],
            file_extension=".parquet",
            schema=fmt.schema,
        )
    registered = StoredSource(source.name, table)
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
