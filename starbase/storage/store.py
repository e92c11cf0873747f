"""Where a table's objects live: a local folder or an S3 prefix, behind one small interface.

Requires: for S3, boto3 and an endpoint/credentials (`S3Location`); for local folders, a POSIX
file system. Guarantees: keys are '/'-separated and relative to the table's root; `put` makes
an object appear whole or not at all (local: temp name, fsync, rename, fsync of the directory;
S3: a single PUT); `put_new` additionally refuses to replace an existing object (local: a hard
link, which fails if the name exists; S3: `If-None-Match: *`), which is what makes a commit
log safe against two writers; `url` is what DataFusion and DuckDB are given to read a prefix.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def put_new(self, key: str, data: bytes) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def names(self, prefix: str, start_after: str | None = None) -> list[str]: ...
    def delete(self, keys: list[str]) -> None: ...
    def url(self, key: str) -> str: ...
    def local_path(self, key: str) -> Path | None: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path

    def put(self, key: str, data: bytes) -> None:
        final = self.root / key
        _make_dirs(final.parent)
        temp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
        try:
            _write_synced(temp, data)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(final.parent)

    def put_new(self, key: str, data: bytes) -> bool:
        final = self.root / key
        _make_dirs(final.parent)
        temp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
        try:
            _write_synced(temp, data)
            try:
                os.link(temp, final)
            except FileExistsError:
                return False
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(final.parent)
        return True

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def names(self, prefix: str, start_after: str | None = None) -> list[str]:
        """File names directly inside the folder `prefix` (not recursive), sorted."""
        try:
            entries = os.listdir(self.root / prefix)
        except FileNotFoundError:
            return []
        found = sorted(e for e in entries if not e.startswith("."))
        return [e for e in found if start_after is None or e > start_after]

    def delete(self, keys: list[str]) -> None:
        parents = set()
        for key in keys:
            path = self.root / key
            path.unlink(missing_ok=True)
            parents.add(path.parent)
        for parent in parents:  # drop emptied partition folders, up to the table root
            while parent != self.root and parent.is_relative_to(self.root):
                try:
                    parent.rmdir()
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                        break
                    raise
                parent = parent.parent

    def url(self, key: str) -> str:
        return str(self.root / key) + ("/" if key.endswith("/") or not key else "")

    def local_path(self, key: str) -> Path:
        return self.root / key


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # the table's root inside the bucket, no leading or trailing '/'
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None


@dataclass(frozen=True)
class S3Store:
    location: S3Location
    client: Any = field(default=None, compare=False)

    @staticmethod
    def connect(location: S3Location) -> S3Store:
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.config import Config as BotoConfig  # type: ignore[import-untyped, unused-ignore]

        client = boto3.client(
            "s3",
            endpoint_url=location.endpoint,
            region_name=location.region,
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key,
            config=BotoConfig(
                connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        return S3Store(location, client)

    def _key(self, key: str) -> str:
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.location.bucket, Key=self._key(key), Body=data)

    def put_new(self, key: str, data: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.location.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
        except self.client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def get(self, key: str) -> bytes | None:
        try:
            reply = self.client.get_object(Bucket=self.location.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(reply["Body"].read())

    def names(self, prefix: str, start_after: str | None = None) -> list[str]:
        base = self._key(prefix.rstrip("/") + "/")
        found: list[str] = []
        for page in self._pages(base, start_after):
            found.extend(item["Key"][len(base) :] for item in page.get("Contents", ()))
        return sorted(n for n in found if "/" not in n and not n.startswith("."))

    def _pages(self, base: str, start_after: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": base}
        if start_after is not None:
            kwargs["StartAfter"] = base + start_after
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(
                Bucket=self.location.bucket, Delete={"Objects": chunk, "Quiet": True}
            )

    def url(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{self._key(key)}"

    def local_path(self, key: str) -> None:
        return None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())


def _make_dirs(directory: Path) -> None:
    """Create `directory` and fsync each parent that gained an entry, so the path survives."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
