"""The FastAPI facade: routes stay thin, services below them start, signal and update
workflows and read records."""
