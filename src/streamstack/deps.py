"""FastAPI dependencies shared by every router: the platform and a catalog session per request."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from streamstack.errors import Problem
from streamstack.platform import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed by the service functions, rolled back on any error."""
    session = request.app.state.platform.sessions()
    try:
        yield session
    except OperationalError as exc:
        session.rollback()
        raise Problem(503, "Service Unavailable", "the catalog is unavailable; nothing was changed") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
