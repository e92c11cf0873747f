"""The router (`starbase router`): HTTP ingest with durable acknowledgements (docs/router.md).

Requires: the storage layer (`starbase.storage.table`). Guarantees: a 2xx means the records
are fsynced in a write-ahead log; they reach the tables exactly once. The path of a request,
one module per step:

| step | module | in → out |
|---|---|---|
| process | `cli` → `supervisor` → `worker` | options → worker processes on one port |
| admission | `server`, `auth`, `problems` | HTTP request → tenant + body, or 401/403/413/429/503 |
| decoding | `otlp` (+ `otlp_json`, `anyvalue`), `firehose`, `raw` | body → WAL payload, or 4xx |
| durability | `groupcommit`, `wal` | payload → fsynced entry with a sequence number |
| commit | `flusher`, `destinations`, `convert` (+ `convert_otlp`) | entries → `Table.append` |
| upkeep | `compactor`, `metrics`, `config` | compaction, `/metrics`, settings |
"""
