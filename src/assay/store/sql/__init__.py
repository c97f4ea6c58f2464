"""SQL persistence (SQLAlchemy Core) for SQLite and PostgreSQL."""
