"""Bounds of the database's column types, free of SQLAlchemy so workflow code may import them."""

#: The largest value of a Postgres ``INTEGER`` column (every integer column of Capstan's tables):
#: request fields stored in one are bounded by it, so a write can never fail "out of range".
PG_INTEGER_MAX = 2**31 - 1

#: The largest ``offset`` a list takes: far above any page walk a client does, far below what would make
#: Postgres scan for long.
MAX_OFFSET = 10_000_000
