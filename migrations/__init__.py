"""Alembic environment and versions: the only place the SQL schema changes."""
