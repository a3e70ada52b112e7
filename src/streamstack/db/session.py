"""Engine and session factory built once from Settings; migrations applied on start where allowed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from streamstack.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """SQLite gets WAL and a busy timeout so the API and the worker share it safely."""
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if url.startswith("sqlite") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Apply every Alembic migration up to head."""
    from alembic import command

    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def open_catalog(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    url = settings.resolved_database_url
    if settings.auto_migrate:
        upgrade(url)
    engine = make_engine(url)
    if settings.database_iam_auth:
        authenticate_with_iam(engine, settings)
    return engine, make_session_factory(engine)


def authenticate_with_iam(engine: Engine, settings: Settings) -> None:
    """Every new connection gets a fresh RDS IAM token (valid 15 min): nothing to rotate, nothing goes stale."""
    from streamstack.aws import client

    rds_client = client("rds", settings)
    url = engine.url

    @event.listens_for(engine, "do_connect")
    def _token(_dialect, _record, _cargs, cparams):  # type: ignore[no-untyped-def]
        cparams["password"] = rds_client.generate_db_auth_token(
            DBHostname=url.host, Port=url.port or 5432, DBUsername=url.username, Region=settings.aws_region
        )
