"""The runtime's failure types, shared by the session, the engines and the native stores.

Requires: nothing. Guarantees: every failure of a query that compiled is a `QueryFailed`
whose message is one line naming the cause (and the source, when one is to blame);
`QueryCancelled` is what reading a cancelled cursor raises; `one_line` makes any exception
text fit that rule.
"""

from __future__ import annotations


class QueryFailed(Exception):
    """A query that compiled but could not run; the message is one line with the cause."""


class QueryCancelled(Exception):
    """The query was cancelled before its result was complete."""

    def __init__(self, message: str = "the query was cancelled") -> None:
        super().__init__(message)


def one_line(exc: BaseException | str, limit: int = 500) -> str:
    text = " ".join(str(exc).split())
    return text[:limit] + ("…" if len(text) > limit else "")
