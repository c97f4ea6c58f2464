"""The HTTP client side of the team server."""
