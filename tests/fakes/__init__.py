"""Fake outside systems speaking real protocols, for integration and end-to-end tests."""
