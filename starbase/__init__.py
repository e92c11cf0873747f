"""Starbase: one query language (StarQL) compiled to where your logs already live."""
