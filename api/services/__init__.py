"""Logic below the routes: record reads and writes, and the Temporal calls that start work."""
