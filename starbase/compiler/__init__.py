"""Starbase compiler."""
