"""The platform API v1 surface: workspaces (tenants), their resources, settings and secrets."""
