"""The app's own PostgreSQL login: no password (RDS IAM tokens), data access only, made by the migrate task."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from streamstack.db.session import make_engine

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DML = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCES = "USAGE, SELECT, UPDATE"


class AppUserError(ValueError):
    """The app user cannot be made here (not PostgreSQL, or an unusable name)."""


@dataclass(frozen=True)
class AppUser:
    name: str
    created: bool
    rds_iam: bool  # False where the server has no rds_iam role (not RDS): the login then follows pg_hba.conf


def ensure_app_user(url: str, name: str) -> AppUser:
    """Create the login role if missing and grant it DML on the catalog; safe to run on every deploy."""
    if not ROLE_NAME.match(name):
        raise AppUserError(f"app user {name!r}: use lower-case letters, digits and _ (at most 63)")
    engine = make_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            raise AppUserError(f"--app-user needs PostgreSQL; the catalog is {engine.dialect.name}")
        with engine.begin() as connection:
            return _grant(connection, name)
    finally:
        engine.dispose()


def _grant(connection: Connection, name: str) -> AppUser:
    role = connection.dialect.identifier_preparer.quote_identifier(name)
    database = connection.dialect.identifier_preparer.quote_identifier(
        connection.execute(text("SELECT current_database()")).scalar_one()
    )
    existed = _role_exists(connection, name)
    # Two migrate tasks at once: the loser of the race finds the role made and carries on.
    connection.execute(text(
        f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    ))
    rds_iam = _role_exists(connection, "rds_iam")
    statements = [
        f"GRANT rds_iam TO {role}" if rds_iam else "",
        f"GRANT CONNECT ON DATABASE {database} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT {SEQUENCES} ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables and sequences later migrations create (as this, the migrating user) are granted too.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {DML} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {SEQUENCES} ON SEQUENCES TO {role}",
        # The app reads the schema version; only the migrate task may change it.
        f"REVOKE INSERT, UPDATE, DELETE ON TABLE alembic_version FROM {role}" if _has_alembic(connection) else "",
    ]
    for statement in filter(None, statements):
        connection.execute(text(statement))
    return AppUser(name=name, created=not existed, rds_iam=rds_iam)


def _role_exists(connection: Connection, name: str) -> bool:
    return connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first() is not None


def _has_alembic(connection: Connection) -> bool:
    return connection.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is not None
