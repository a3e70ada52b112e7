"""The one place that builds boto3 clients from Settings, so region, endpoint (moto) and retries agree."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from streamstack.settings import Settings

RETRIES = {"max_attempts": 5, "mode": "standard"}
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
MAX_POOL_CONNECTIONS = 32

_session_lock = threading.Lock()
_sessions: dict[int, boto3.session.Session] = {}


def client_config(**overrides: Any) -> Config:
    """Standard retry mode (adaptive backoff on throttling) and bounded timeouts for every client."""
    values: dict[str, Any] = {
        "retries": dict(RETRIES),
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "max_pool_connections": MAX_POOL_CONNECTIONS,
    }
    values.update(overrides)
    return Config(**values)


def _session() -> boto3.session.Session:
    """One boto3 Session per thread: Sessions are not thread-safe, the clients they make are."""
    ident = threading.get_ident()
    with _session_lock:
        session = _sessions.get(ident)
        if session is None:
            session = _sessions[ident] = boto3.session.Session()
        return session


def client(service: str, settings: Settings, *, endpoint_url: str | None = None, **config: Any) -> Any:
    """A boto3 client for `service` in settings.aws_region, at settings.aws_endpoint_url when set (moto)."""
    return make_client(service, region=settings.aws_region, endpoint_url=endpoint_url or settings.aws_endpoint_url,
                       **config)


def make_client(service: str, *, region: str, endpoint_url: str | None = None, **config: Any) -> Any:
    """A boto3 client from plain values, for adapters that must be rebuilt in another process (pickling)."""
    return _session().client(service, region_name=region, endpoint_url=endpoint_url, config=client_config(**config))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
