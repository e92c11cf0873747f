"""Starbase emitter."""
