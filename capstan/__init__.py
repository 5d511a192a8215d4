"""Capstan: durable orchestration for code work on Temporal."""

__version__ = "0.1.0"
