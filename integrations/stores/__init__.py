"""Postgres queries the API and the activities both run, and how a refused write is told from a passing fault
(``db_errors``)."""
