"""STREAMSTACK_DATABASE_IAM_AUTH: each new catalog connection authenticates with a fresh RDS IAM token.

The local PostgreSQL trusts loopback, so it accepts any password: the test checks what the driver is given.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, text

from streamstack.db.session import open_catalog
from tests.conftest import make_settings


def test_every_new_connection_gets_its_own_token(tmp_path, postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path, database_url=postgres_url, database_iam_auth=True, aws_region="eu-west-1",
                             auto_migrate=False)
    engine, _ = open_catalog(settings)
    passwords: list[str] = []
    event.listen(engine, "do_connect", lambda _d, _r, _a, cparams: passwords.append(cparams["password"]))
    try:
        with engine.connect() as first, engine.connect() as second:
            assert first.execute(text("SELECT 1")).scalar() == second.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    assert len(passwords) == 2
    url = urlsplit(postgres_url)
    for token in passwords:
        host, _, query = token.partition("/?")
        assert host == f"{url.hostname}:{url.port or 5432}"
        params = parse_qs(query)
        assert params["Action"] == ["connect"] and params["DBUser"] == [url.username]
        assert "eu-west-1/rds-db/aws4_request" in params["X-Amz-Credential"][0]


def test_off_by_default_the_url_is_used_as_given(tmp_path, postgres_url: str):
    engine, _ = open_catalog(make_settings(tmp_path, database_url=postgres_url, auto_migrate=False))
    passwords: list[object] = []
    event.listen(engine, "do_connect", lambda _d, _r, _a, cparams: passwords.append(cparams.get("password")))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert passwords == [urlsplit(postgres_url).password]
