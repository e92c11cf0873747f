"""Starbase repl."""
