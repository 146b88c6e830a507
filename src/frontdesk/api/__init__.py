"""The HTTP surface of Frontdesk (SPEC section 6): FastAPI routes over the services."""
