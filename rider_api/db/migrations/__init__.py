"""Alembic migrations of the rider API database."""
