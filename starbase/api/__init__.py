"""`starbase serve`: the HTTP API (contract §8) and the web UI, one asyncio process (aiohttp).

Requires: the compiler and the runtime (through `execution`, the one module that runs queries).
Guarantees: see docs/api.md; `app.build_app(settings)` is the application, `cli` the command.
"""
