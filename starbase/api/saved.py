"""Saved queries, stored server-side per tenant: one JSON file per tenant, replaced atomically.

Requires: a folder the server may write (`--state DIR`, default `<data>/_serve`). Guarantees:
`list`/`get`/`create`/`update`/`delete` act on one tenant's queries only (a tenant's file is
`<folder>/<tenant>.json`; tenant names are the router's safe pattern, so they are plain file
names); a write goes to a temporary file that replaces the old one (`os.replace`), so a crash
never leaves a half-written file; ids are random and URL-safe; at most `MAX_SAVED` queries per
tenant; calls are serialized by a lock (the API's threads share one store).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from starbase.api.errors import ApiError

MAX_SAVED = 1000


class SavedQueries:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def list(self, tenant: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._read(tenant).values(), key=lambda q: str(q["name"]).lower())

    def get(self, tenant: str, query_id: str) -> dict[str, Any]:
        with self._lock:
            found = self._read(tenant).get(query_id)
        if found is None:
            raise ApiError(404, "no_such_saved_query", f"no saved query {query_id!r}")
        return found

    def create(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            queries = self._read(tenant)
            if len(queries) >= MAX_SAVED:
                raise ApiError(
                    409, "too_many_saved_queries", f"a tenant keeps at most {MAX_SAVED} queries"
                )
            now = time.time()
            entry = {"id": secrets.token_urlsafe(9), **body, "created": now, "updated": now}
            queries[entry["id"]] = entry
            self._write(tenant, queries)
            return entry

    def update(self, tenant: str, query_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            queries = self._read(tenant)
            if query_id not in queries:
                raise ApiError(404, "no_such_saved_query", f"no saved query {query_id!r}")
            entry = {**queries[query_id], **body, "id": query_id, "updated": time.time()}
            queries[query_id] = entry
            self._write(tenant, queries)
            return entry

    def delete(self, tenant: str, query_id: str) -> None:
        with self._lock:
            queries = self._read(tenant)
            if queries.pop(query_id, None) is None:
                raise ApiError(404, "no_such_saved_query", f"no saved query {query_id!r}")
            self._write(tenant, queries)

    def _path(self, tenant: str) -> Path:
        return self.folder / f"{tenant}.json"

    def _read(self, tenant: str) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._path(tenant).read_text())
        except FileNotFoundError:
            return {}
        return {str(q["id"]): q for q in data.get("queries", [])}

    def _write(self, tenant: str, queries: dict[str, dict[str, Any]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"queries": list(queries.values())}, ensure_ascii=False, indent=1)
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{tenant}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self._path(tenant))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
