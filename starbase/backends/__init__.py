"""Starbase compiler backends."""
