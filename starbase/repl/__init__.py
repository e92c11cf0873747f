"""The Starbase REPL (`starbase repl`): a Textual terminal UI to write, run and explain StarQL.

Requires: textual (imported by `starbase.repl.app`, not by this package, so the rest of
Starbase never needs it). Guarantees: one module per job — `app` (wiring, workers),
`editor` + `lexer` (editing, highlighting), `completion`, `diagnostics`, `results`, `chart`
+ `timerange` (histogram and `stats … by bin()` charts), `explain`, `history`, `rewrite`
(time range and source shortcuts), `runner` (cancellable execution), `export`, `screens`
(dialogs), `status`, `messages`; styles in the `.tcss` files beside them.
"""
