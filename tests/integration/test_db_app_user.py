"""`streamstack db upgrade --app-user`: the migrate task makes the app's passwordless login with DML only.

The local PostgreSQL has no `rds_iam` role (RDS creates it), so the grant of it is skipped and said so;
trust auth on loopback lets the test log in as the new role to see what it may and may not do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command as the migrate task runs it; stderr unwrapped (Rich folds long lines)."""
    result = subprocess.run([sys.executable, "-m", "streamstack", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    result.stderr = " ".join(result.stderr.split())
    return result


def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSTACK_")}
    return {**clean, "STREAMSTACK_DATA_DIR": str(tmp_path / "data"), "STREAMSTACK_DATABASE_URL": database_url}


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port or 5432}"))


@pytest.fixture
def app_user(postgres_url: str) -> Iterator[str]:
    """A role name of this test alone (roles are cluster-wide; other suites share the server)."""
    name = f"streamstack_app_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


def test_migrate_creates_the_app_user_once_with_dml_only(tmp_path: Path, postgres_url: str, app_user: str):
    env = environment(tmp_path, postgres_url)
    first = run(env, "db", "upgrade", "--app-user", app_user)
    assert first.returncode == 0, first.stderr
    assert f"app user {app_user} created" in first.stderr
    assert "no rds_iam role on this server" in first.stderr
    again = run(env, "db", "upgrade", "--app-user", app_user)
    assert again.returncode == 0, again.stderr
    assert f"app user {app_user} exists" in again.stderr

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        tables = [r[0] for r in admin.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        assert tables, "the migration created no tables"
        for table in tables:
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                assert admin.execute("SELECT has_table_privilege(%s, %s, %s)",
                                     (app_user, f"public.{table}", privilege)).fetchone() == (True,), (table, privilege)
        assert admin.execute("SELECT has_table_privilege(%s, 'public.alembic_version', 'UPDATE')",
                             (app_user,)).fetchone() == (False,)
        admin.execute("CREATE TABLE later_migration (id bigserial PRIMARY KEY, note text)")
        assert admin.execute("SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = %s",
                             (app_user,)).fetchone() == (True, True)

    with psycopg.connect(as_user(postgres_url, app_user), autocommit=True) as app:
        # Default privileges reach what a later migration creates, sequence included.
        app.execute("INSERT INTO later_migration (note) VALUES ('by the app')")
        assert app.execute("SELECT note FROM later_migration").fetchone() == ("by the app",)
        app.execute(f"SELECT count(*) FROM {tables[0]}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE not_allowed (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM alembic_version")


def test_app_user_needs_postgresql_and_a_plain_name(tmp_path: Path, postgres_url: str):
    sqlite = run(environment(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}"), "db", "upgrade", "--app-user", "app")
    assert sqlite.returncode == 2 and "needs PostgreSQL; the catalog is sqlite" in sqlite.stderr
    hostile = run(environment(tmp_path, postgres_url), "db", "upgrade", "--app-user", 'x"; DROP ROLE postgres; --')
    assert hostile.returncode == 2 and "use lower-case letters" in hostile.stderr
