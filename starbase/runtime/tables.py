"""Where each stored format's table lives and how DataFusion reads it.

Requires: a configured source whose format is stored by Starbase (today: `otel`) and its
location (a local folder or `s3://bucket/prefix`). Guarantees: `register` makes the source a
DataFusion listing table named like the source, with the format's physical schema given
explicitly (so an empty table is queryable) and its hive partition columns, reading only
`.parquet` files (never the writer's hidden temporary files); S3 locations get an object store
for their bucket with the source's endpoint, region and credentials.
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
from starbase.storage import otel_layout


class SourceUnavailable(Exception):
    """A source's data cannot be reached; the message says which and why, in one line."""


@dataclass(frozen=True)
class StoredTable:
    directory: str  # below the source's location
    schema: pa.Schema
    partitions: tuple[tuple[str, pa.DataType], ...]


STORED = {
    "otel": StoredTable(
        otel_layout.TABLE_DIR, otel_layout.OTEL_LOGS_SCHEMA, otel_layout.PARTITION_COLUMNS
    ),
}


def register(ctx: SessionContext, source: SourceConfig) -> None:
    """Register `source` in `ctx` as a table named like the source."""
    stored = STORED.get(source.format)
    if stored is None:
        raise SourceUnavailable(
            f"source '{source.name}': format '{source.format}' is not stored by Starbase"
        )
    location = source.location
    if not location:
        raise SourceUnavailable(f"source '{source.name}' has no location")
    if location.startswith("s3://"):
        path = _s3(ctx, source, location)
    else:
        root = Path(location).expanduser()
        if not root.is_dir():
            raise SourceUnavailable(
                f"source '{source.name}': data folder {root} does not exist "
                "(start the router, or pass --data DIR / set STARBASE_DATA)"
            )
        table_dir = root / stored.directory
        table_dir.mkdir(parents=True, exist_ok=True)
        path = str(table_dir) + "/"
    ctx.register_listing_table(
        source.name,
        path,
        table_partition_cols=list(stored.partitions),
        file_extension=".parquet",
        schema=stored.schema,
    )


def _s3(ctx: SessionContext, source: SourceConfig, location: str) -> str:
    parsed = urlparse(location)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    options = source.options
    endpoint = source.endpoint
    if endpoint:
        _reachable(source.name, endpoint)
    store = AmazonS3(
        bucket_name=bucket,
        region=source.region or os.environ.get("AWS_REGION") or "us-east-1",
        access_key_id=str(options.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID", ""))
        or None,
        secret_access_key=str(
            options.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        )
        or None,
        endpoint=endpoint,
        allow_http=bool(endpoint and endpoint.startswith("http://")),
    )
    ctx.register_object_store("s3://", store, bucket)  # scheme + host: one store per bucket
    stored = STORED[source.format]
    key = "/".join(p for p in (prefix, stored.directory) if p)
    return f"s3://{bucket}/{key}/"


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
