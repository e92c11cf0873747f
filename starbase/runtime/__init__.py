"""Starbase runtime."""
