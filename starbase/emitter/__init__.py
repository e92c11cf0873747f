"""The emitter (`starbase emit`): realistic, reproducible log traffic of a small shop.

Requires: nothing at import; each mode imports its client library when it runs. Guarantees:
a pipeline of small modules, each a stage a test can stop after —

| stage        | module                         | gives                                      |
|--------------|--------------------------------|--------------------------------------------|
| system       | `system`, `scenarios`          | services, replicas, versions; health/phase  |
| model        | `model` (+ `flows`, `records`) | seeded requests → spans → records           |
| mode's view  | `lambda_logs`, `raw`           | a request as Lambda log events / raw lines  |
| timeline     | `timeline`                     | one time-ordered stream, cut to count/time  |
| pacing       | `pacing`                       | wall-clock pacing by timestamp; progress    |
| sink         | `otlp`, `cloudwatch` (+ `batching`), `firehose`, `raw` (+ `http_post`) | delivery |
| run, command | `run`, `cli`                   | options → summary; `starbase emit`          |

The same seed and start time give the same units, one for one, in every mode.
"""
