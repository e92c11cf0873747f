"""`python -m starbase …` runs the `starbase` command (where the console script is not on PATH)."""

from starbase.cli import run

run()
