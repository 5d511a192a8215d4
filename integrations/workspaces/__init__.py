"""Maintenance workspace backends: which one an event goes to (``choice``), the HTTP backend (``http``), the
built-in one (``builtin``) and its ``patch-stack-rebase`` automation (``rebase``)."""
