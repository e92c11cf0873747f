"""Imported first by `starbase.cli`: for `starbase router`, hold SIGTERM and SIGINT at once.

The CLI's imports (the query engine) take about a second; a stop signal meanwhile would kill
the process by Python's default action before the router could commit its WAL backlog. Held
(`signals.hold`), it stays pending across the exec into the supervisor, which takes it as
soon as its handlers are in place. Other commands are left alone.
"""

from __future__ import annotations

import sys

from starbase.router import signals

if next((a for a in sys.argv[1:] if not a.startswith("-")), None) == "router":
    signals.hold()
