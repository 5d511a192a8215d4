"""Benchmarks of a running Capstan stack; see ``bench/protocols.py`` and ``docs/performance.md``."""
