"""The router (`starbase router`): HTTP ingest with durable acknowledgements (docs/router.md).

Requires: the storage layer (`starbase.storage.table`). Guarantees: a 2xx means the records
are fsynced in a write-ahead log; they reach the tables exactly once. The path of a request,
one module per step:

| step | module | in → out |
|---|---|---|
| process | `cli` (+ `early`) → `supervisor` → `worker`; `signals` | options → workers on a port |
| admission | `server`, `auth`, `problems` | request → tenant + body, or 401/403/408/413/429/503 |
| decoding | `otlp` (+ `otlp_wire`, `otlp_json`, `anyvalue`), `firehose`, `raw` | body → payload |
| limits | `limits` (a request's `Budget`), `retention` (tables' cutoffs) | 413, rejections |
| durability | `groupcommit`, `wal` | payload → fsynced entry with a sequence number |
| commit | `flusher`, `destinations`, `convert` (+ `convert_otlp`) | entries → `Table.append` |
| upkeep | `compactor`, `metrics`, `config` | compaction, `/metrics`, settings |
"""
