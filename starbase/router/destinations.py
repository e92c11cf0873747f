"""Which table a WAL entry goes to: (tenant, kind) → an opened `storage.table.Table`.

Requires: `RouterConfig` (a local data folder, or an S3 target whose credentials come from
the environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or boto3's usual chain).
Guarantees: the default namespace is `<location>/<format dir>`, a tenant's is
`<location>/tenants/<tenant>/<format dir>`, locally and on S3 alike; tables are opened once and
reused (opening does no I/O, so an unreachable store does not fail here).
"""

from __future__ import annotations

import os
import threading

from starbase.router.config import RouterConfig, tenant_location, tenant_prefix
from starbase.router.convert import FORMAT_OF_KIND
from starbase.router.wal import Kind
from starbase.storage.store import S3Location
from starbase.storage.table import Table, open_table


class Destinations:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._tables: dict[tuple[str | None, Kind], Table] = {}
        self._lock = threading.Lock()

    def table(self, tenant: str | None, kind: Kind) -> Table:
        key = (tenant, kind)
        with self._lock:
            found = self._tables.get(key)
            if found is None:
                found = self._tables[key] = self._open(tenant, FORMAT_OF_KIND[kind])
            return found

    def written(self) -> list[tuple[str | None, Kind]]:
        """The (tenant, kind) of every table opened so far."""
        with self._lock:
            return list(self._tables)

    def _open(self, tenant: str | None, format_name: str) -> Table:
        target = self.config.s3
        if target is None:
            return open_table(tenant_location(self.config.location, tenant), format_name)
        s3 = S3Location(
            target.bucket,
            tenant_prefix(target.prefix, tenant),
            target.endpoint,
            target.region,
            os.environ.get("AWS_ACCESS_KEY_ID"),
            os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )
        location = f"s3://{target.bucket}/{s3.prefix}".rstrip("/")
        return open_table(location, format_name, s3=s3)
