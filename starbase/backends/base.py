"""The backend protocol: what a backend gives the compiler's users and a `Session`.

Requires: nothing heavy at import — this module and every backend's `__init__` are imported
to list and describe backends (`starbase --help`, mapping validation), so a backend imports
its lowering and execution modules inside the methods that use them. Guarantees: two kinds of
backend, both with a `name` (the registry key), a `title` for people, the text `starbase
compile --target NAME` prints (`target`), the explain sections that need no engine
(`sections`) and one line saying where a source runs (`describe`):

- an **engine** (`EngineBackend`: DataFusion; later Spark) runs whole backend-neutral plans
  over stored tables and over rows fetched from native stores. `engine(config)` makes the
  per-session execution state (`Engine`): `execute(Job) -> Execution` streams Arrow record
  batches, `explain(Job)` gives its plans. Engines run in the session's process or in a
  worker process (`starbase.runtime.workers`), so everything in a `Job` is picklable;
- a **native** store (`NativeBackend`: CloudWatch Logs Insights) runs the part of a plan its
  capability profile allows in its own query language; `connector(config)` makes the
  per-session state (`Connector`: clients) that fetches those rows (`fetch`), or stands in
  for them with empty tables when only planning (`stand_in`), and explains its calls. The
  rest of the plan — the remainder over the fetched rows, the other sources, the union —
  runs on the session's engine.

Failures of a query that compiled are `starbase.runtime.errors.QueryFailed` (one line); an
operation a backend cannot lower is an `UnsupportedError` naming it and the backend.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from starbase.compiler import ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.config import Config, SourceConfig

Kind = Literal["engine", "native"]


class UnsupportedError(Exception):
    """The plan uses an operation this backend cannot run; names the operation and target."""

    def __init__(self, operation: str, target: str) -> None:
        super().__init__(f"{target} cannot run {operation}")
        self.operation, self.target = operation, target


@dataclass(frozen=True, slots=True)
class EngineOption:
    """A setting an engine takes (e.g. Spark's master URL): the command line offers it as
    `--ENGINE-NAME VALUE`; a `Session` passes it to `EngineBackend.engine`."""

    name: str
    help: str
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """One titled block of an explanation; `language` tells a viewer how to highlight it
    (`sql`, `insights`, `plan`, `text`)."""

    title: str
    body: str
    language: str = "text"


class Report(Protocol):
    """What fetching one source from a native store took (rows, calls, time)."""

    source: str
    rows: int

    def render(self) -> str: ...


# ---------------------------------------------------------------- engines


@dataclass(frozen=True)
class Job:
    """One run for an engine: a bound plan whose scans read stored sources (registered by the
    engine from the session's `Config`) or `tables` (rows fetched for this run, by the scan's
    source name), and at most `limit` rows to return."""

    plan: ir.Plan
    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    limit: int | None = None


@dataclass(frozen=True)
class ExecutionStats:
    """What an engine measured: bytes its scans read (None: it does not say) and whether it
    stopped at the job's limit with more rows left."""

    bytes_scanned: int | None = None
    truncated: bool = False


class Execution(ABC):
    """A job being run: its result schema (known before the first row), then its batches."""

    schema: pa.Schema

    @abstractmethod
    def batches(self) -> Iterator[pa.RecordBatch]:
        """The result's record batches, at most the job's `limit` rows in all."""

    @abstractmethod
    def stats(self) -> ExecutionStats:
        """Figures of the run (complete once `batches` is exhausted)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop producing batches as soon as the engine can (no error is raised)."""


class Engine(ABC):
    """A backend's execution state for one session: its connection to the data (e.g. a
    DataFusion `SessionContext` with the sources registered), kept warm between jobs."""

    @abstractmethod
    def execute(self, job: Job) -> Execution:
        """Plan `job` and start it; planning failures raise `QueryFailed`."""

    @abstractmethod
    def explain(self, job: Job, *, analyze: bool = False) -> str:
        """The engine's plans for `job` (with `analyze`: run it and show its metrics)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the engine holds."""


# ---------------------------------------------------------------- native stores


@dataclass(frozen=True)
class Fetched:
    """A native store's part of a run: `plan` is the bound plan with that part replaced by
    what runs on the engine over `tables` (fetched rows by table name); `reports` say what
    fetching took; `queries` are the backend's own description of what it ran."""

    plan: ir.Plan
    tables: Mapping[str, pa.Table]
    reports: tuple[Report, ...] = ()
    queries: tuple[object, ...] = ()


class Connector(ABC):
    """A native backend's state for one session (its API clients)."""

    clock_resolution_ns: ClassVar[int] = 1  # the run's now() is rounded down to this

    @abstractmethod
    def fetch(self, bound: ir.Plan, *, now_ns: int, cancel: threading.Event) -> Fetched:
        """Run this store's part of `bound` natively and fetch its rows (each source's rows
        under the source's name); setting `cancel` stops the native queries (and raises
        `QueryFailed`)."""

    @abstractmethod
    def stand_in(self, bound: ir.Plan) -> Fetched:
        """As `fetch`, with empty tables and no call made (to plan or explain)."""

    @abstractmethod
    def explain(self, bound: ir.Plan, fetched: Fetched, *, now_ns: int) -> Section:
        """The calls a run makes (and, when `fetched` came from `fetch`, what they took)."""


# ---------------------------------------------------------------- backends


class Backend(ABC):
    """A registered backend (see the module docstring); instances are stateless."""

    name: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind]

    @abstractmethod
    def target(self, compiled: CompiledQuery) -> str:
        """What `starbase compile --target NAME` prints for `compiled` (parameters and now()
        unbound); raises `UnsupportedError` when this backend cannot run the plan."""

    @abstractmethod
    def sections(self, compiled: CompiledQuery) -> tuple[Section, ...]:
        """The explain sections that need no engine nor network: the backend's text."""

    def describe(self, scan: ir.Scan, source: SourceConfig | None) -> str:
        """One line saying where the source read by `scan` runs."""
        return f"{scan.source} ({scan.format}) → {self.title}"


class EngineBackend(Backend):
    kind: ClassVar[Kind] = "engine"
    options: ClassVar[tuple[EngineOption, ...]] = ()  # what `engine` may be given
    # False: Starbase only translates for this engine (its SQL runs elsewhere, e.g. Athena);
    # it is a `--target`, not an `--engine`
    runs_here: ClassVar[bool] = True

    @abstractmethod
    def render(self, plan: ir.Plan) -> str:
        """The engine's text for a plan whose scans it reads (`UnsupportedError` otherwise)."""

    def target(self, compiled: CompiledQuery) -> str:
        from starbase.compiler.driver import retarget

        return self.render(retarget(compiled.plan, self.name))

    @abstractmethod
    def engine(self, config: Config, options: Mapping[str, str] | None = None) -> Engine:
        """A new engine over the sources of `config` (in the calling process), with values
        for some of its `options`."""


class NativeBackend(Backend):
    kind: ClassVar[Kind] = "native"

    @abstractmethod
    def connector(self, config: Config) -> Connector:
        """A new connector for the sources of `config`."""
