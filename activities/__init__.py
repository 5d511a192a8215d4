"""Activities: one module per outside system. Each is safe to run twice."""
