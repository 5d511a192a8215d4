"""The platform API v1 (``/api/v1``): tenancy, JWT roles, idempotency, list envelopes and resources."""
