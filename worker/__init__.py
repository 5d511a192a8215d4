"""The worker process: which workflows and activities run on which task queue."""
