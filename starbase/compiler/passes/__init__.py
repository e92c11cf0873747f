"""Starbase compiler passes."""
