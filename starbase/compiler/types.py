"""Value types of StarQL expressions.

Requires nothing. Guarantees: one enum shared by the resolver, the IR and every backend; the
names of the meta-model's field types (`starbase.mappings.FieldType`) are a subset of it.
"""

from __future__ import annotations

from enum import StrEnum


class Type(StrEnum):
    TIMESTAMP = "timestamp"  # nanoseconds since the Unix epoch, UTC
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    MAP = "map"  # map<string, string>
    DURATION = "duration"  # nanoseconds
    REGEX = "regex"
    NULL = "null"  # the type of the literal null: fits anywhere

    @property
    def numeric(self) -> bool:
        return self in (Type.INT, Type.FLOAT)

    def __str__(self) -> str:
        return self.value
