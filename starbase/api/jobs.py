"""Asynchronous queries (jobs): start, read the rows so far, cancel; finished jobs expire.

Requires: a started `Cursor` per job and the server's limits. Guarantees, with the semantics
of Elasticsearch's async search and CloudWatch's StartQuery/GetQueryResults:

- a job's `state` is `running`, then `done`, `failed` or `cancelled`; its rows are kept as they
  arrive (at most the job's `limit`, itself at most `max_rows`: reaching it stops the query
  and marks the job `truncated`), so a client reads the rows so far while it runs, by pages;
- `cancel` stops the query at once (the job keeps the rows it had, state `cancelled`); a job
  running past `max_seconds` is cancelled and `failed` with `time_limit`;
- a job is visible only to the principal that started it (another gets a 404), at most
  `max_jobs` are kept per principal (starting one more drops that principal's oldest finished
  job, or is a 429 when all are running), and a finished job is dropped `job_ttl_s` after it
  ended (`expire`, run periodically by the server).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.api import encode
from starbase.api.errors import ApiError
from starbase.api.execution import Cursor, QueryCancelled
from starbase.api.running import Deadline, batches, schema_of
from starbase.api.settings import Limits
from starbase.api.tenants import Principal
from starbase.compiler.errors import CompileError
from starbase.runtime.errors import QueryFailed


@dataclass
class Job:
    id: str
    principal: Principal
    query: str
    cursor: Cursor
    limit: int
    created: float = field(default_factory=time.time)
    state: str = "running"
    schema: pa.Schema | None = None
    batches: list[pa.RecordBatch] = field(default_factory=list)
    rows: int = 0
    truncated: bool = False
    error: dict[str, Any] | None = None
    ended: float | None = None  # time.monotonic() when it ended

    def page(self, offset: int, limit: int) -> dict[str, Any]:
        """The job's state and `limit` of its rows from `offset` (JSON-ready)."""
        rows: list[list[Any]] = []
        if self.schema is not None and offset < self.rows and limit > 0:
            table = pa.Table.from_batches(list(self.batches), schema=self.schema)
            rows = encode.rows(table.slice(offset, limit))
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "query": self.query,
            "columns": encode.columns(self.schema) if self.schema is not None else [],
            "rows": rows,
            "offset": offset,
            "total_rows": self.rows,
            "truncated": self.truncated,
            "stats": self.cursor.metrics.to_dict() | {"rows": self.rows},
            "created": self.created,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class Jobs:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, principal: Principal, query: str, cursor: Cursor, limit: int) -> Job:
        with self._lock:
            mine = [j for j in self._jobs.values() if j.principal.id == principal.id]
            if len(mine) >= self.limits.max_jobs:
                finished = [j for j in mine if j.state != "running"]
                if not finished:
                    cursor.cancel()
                    raise ApiError(
                        429,
                        "too_many_jobs",
                        f"{self.limits.max_jobs} jobs are running for this token already",
                        retry_after=1,
                    )
                oldest = min(finished, key=lambda j: j.created)
                del self._jobs[oldest.id]
            job = Job(secrets.token_urlsafe(12), principal, query, cursor, limit)
            self._jobs[job.id] = job
            return job

    def get(self, principal: Principal, job_id: str) -> Job:
        self.expire()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.principal.id != principal.id:
            raise ApiError(404, "no_such_job", f"no job {job_id!r} (it may have expired)")
        return job

    def cancel(self, job: Job) -> None:
        if job.state == "running":
            job.state = "cancelled"
            job.ended = self._clock()
            job.cursor.cancel()

    def expire(self) -> int:
        """Drop finished jobs older than the TTL; returns how many went."""
        now = self._clock()
        with self._lock:
            doomed = [
                j.id
                for j in self._jobs.values()
                if j.ended is not None and now - j.ended > self.limits.job_ttl_s
            ]
            for job_id in doomed:
                del self._jobs[job_id]
        return len(doomed)

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.cursor.cancel()

    async def collect(self, job: Job, executor: Executor) -> None:
        """Read the job's cursor to its end, keeping rows (run as a task)."""
        deadline = Deadline(job.cursor, self.limits.max_seconds)
        try:
            job.schema = await schema_of(job.cursor, executor)
            async for batch in batches(job.cursor, executor):
                room = job.limit - job.rows
                if batch.num_rows > room:
                    batch = batch.slice(0, room)
                    job.truncated = True
                if batch.num_rows:
                    job.batches.append(batch)
                    job.rows += batch.num_rows
                if job.truncated:
                    job.cursor.cancel()
                    break
            if job.state == "running":
                job.truncated = job.truncated or job.cursor.metrics.truncated
                job.state = "done"
        except QueryCancelled:
            if deadline.expired:
                job.state = "failed"
                job.error = deadline.error().body()["error"]
            elif job.truncated:
                job.state = "done"
            else:
                job.state = "cancelled"
        except (QueryFailed, CompileError) as exc:
            job.state = "failed"
            job.error = {"code": "query_failed", "message": str(exc)}
        except asyncio.CancelledError:
            job.cursor.cancel()
            job.state = "cancelled"
            raise
        finally:
            deadline.stop()
            if job.ended is None:
                job.ended = self._clock()
