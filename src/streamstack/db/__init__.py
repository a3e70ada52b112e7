"""Catalog: SQLAlchemy engine and sessions, declarative base, Alembic migrations."""
