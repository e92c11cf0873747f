"""Starbase compiler grammar."""
