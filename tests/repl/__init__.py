"""Tests of the REPL (`starbase/repl/`); a package so its conftest does not shadow the suite's."""
