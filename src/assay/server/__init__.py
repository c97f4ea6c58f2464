"""The team server: a thin ASGI shell over a SqlStore (validation, auth, routing)."""
