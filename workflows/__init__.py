"""Workflows: one module per family. Deterministic: no I/O, clock or randomness here."""
