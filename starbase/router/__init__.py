"""Starbase router."""
