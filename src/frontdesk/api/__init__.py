"""The HTTP surface of Frontdesk (docs/spec.md section 6): FastAPI routes over the services."""
