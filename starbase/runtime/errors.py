"""The runtime's failure type, shared by the engine and the backends it drives.

Requires: nothing. Guarantees: every failure of a query that compiled is a `QueryFailed`
whose message is one line naming the cause (and the source, when one is to blame);
`one_line` makes any exception text fit that rule.
"""

from __future__ import annotations


class QueryFailed(Exception):
    """A query that compiled but could not run; the message is one line with the cause."""


def one_line(exc: BaseException | str, limit: int = 500) -> str:
    text = " ".join(str(exc).split())
    return text[:limit] + ("…" if len(text) > limit else "")
