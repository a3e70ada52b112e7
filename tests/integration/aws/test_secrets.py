"""Secrets Manager backend: cached with a refresh interval, and never in a log line or an error."""

from __future__ import annotations

import json
import logging

import pytest

from streamstack.aws import client
from streamstack.secrets import (
    DATABASE_URL,
    SIGNING_KEYS,
    WEBHOOK_SECRETS,
    AwsSecrets,
    EnvSecrets,
    SecretNotFound,
    SecretsUnavailable,
    open_secrets,
    settings_with_secrets,
    signing_private_keys,
    webhook_secret,
)
from streamstack.settings import Settings
from tests.integration.aws.conftest import unique

SECRET_DB_URL = "postgresql://app:Sup3r-S3cret-Pa55@db.internal:5432/streamstack"
SIGNING_ENV = "STREAMSTACK_SECRET_PLAYBACK_SIGNING_KEY"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets_settings(aws: Settings) -> Settings:
    prefix = unique("streamstack") + "/"
    sm = client("secretsmanager", aws)
    sm.create_secret(Name=prefix + DATABASE_URL, SecretString=SECRET_DB_URL)
    sm.create_secret(Name=prefix + SIGNING_KEYS, SecretString=json.dumps({"K2JCJMDEHXQW5F": PEM}))
    sm.create_secret(Name=prefix + WEBHOOK_SECRETS, SecretString=json.dumps({"we_1": "whsec_dGVzdHNlY3JldA=="}))
    return aws.model_copy(update={"secrets_backend": "aws", "secrets_refresh_seconds": 60, "secrets_prefix": prefix})


def test_values_come_from_secrets_manager(secrets_settings: Settings):
    secrets = open_secrets(secrets_settings)
    assert isinstance(secrets, AwsSecrets)
    assert settings_with_secrets(secrets_settings, secrets).database_url == SECRET_DB_URL
    assert signing_private_keys(secrets) == {"K2JCJMDEHXQW5F": PEM}
    assert webhook_secret(secrets, "we_1") == "whsec_dGVzdHNlY3JldA=="
    assert webhook_secret(secrets, "we_2") is None


def test_cached_until_the_refresh_interval_then_rotated(secrets_settings: Settings):
    clock = Clock()
    sm = client("secretsmanager", secrets_settings)
    secrets = AwsSecrets(sm, prefix=secrets_settings.secrets_prefix, refresh_seconds=60, clock=clock)
    assert secrets.get(DATABASE_URL) == SECRET_DB_URL
    sm.put_secret_value(SecretId=secrets.prefix + DATABASE_URL, SecretString="postgresql://rotated@db/x")
    clock.now += 59
    assert secrets.get(DATABASE_URL) == SECRET_DB_URL
    clock.now += 2
    assert secrets.get(DATABASE_URL) == "postgresql://rotated@db/x"


def test_a_failed_refresh_keeps_serving_the_cached_value(secrets_settings: Settings):
    clock = Clock()
    good = AwsSecrets(client("secretsmanager", secrets_settings), prefix=secrets_settings.secrets_prefix,
                      refresh_seconds=60, clock=clock)
    assert good.get(DATABASE_URL) == SECRET_DB_URL
    good.client = client("secretsmanager", secrets_settings, endpoint_url="http://127.0.0.1:9",
                         retries={"max_attempts": 1})
    clock.now += 120
    assert good.get(DATABASE_URL) == SECRET_DB_URL
    with pytest.raises(SecretsUnavailable):
        good.get(SIGNING_KEYS)


def test_values_never_reach_logs_errors_or_reprs(secrets_settings: Settings, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    secrets = open_secrets(secrets_settings)
    assert secrets.get(DATABASE_URL) == SECRET_DB_URL
    assert signing_private_keys(secrets)
    errors = [
        _error(lambda: secrets.get("missing")),
        _error(lambda: signing_private_keys(EnvSecrets({SIGNING_ENV: SECRET_DB_URL}))),
        _error(lambda: signing_private_keys(EnvSecrets({SIGNING_ENV: json.dumps([PEM])}))),
    ]
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "botocore.parsers" in {r.name for r in caplog.records}  # bodies were logged, without the values
    for text in (logged, *errors, repr(secrets)):
        assert "Sup3r-S3cret-Pa55" not in text
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" not in text


def _error(action) -> str:  # type: ignore[no-untyped-def]
    """Every text an error carries: message, repr and chained causes."""
    with pytest.raises(Exception) as caught:  # noqa: B017, PT011 - any error is inspected
        action()
    exc = caught.value
    return f"{exc!s} {exc!r} {exc.__cause__!r} {exc.__context__!r}"


def test_missing_secret_is_named_not_found(secrets_settings: Settings):
    with pytest.raises(SecretNotFound, match="nothing-here"):
        open_secrets(secrets_settings).get("nothing-here")


def test_env_backend_and_explicit_database_url_win():
    env = EnvSecrets({"STREAMSTACK_SECRET_DATABASE_URL": "sqlite:///x.db"})
    assert env.get(DATABASE_URL) == "sqlite:///x.db"
    with pytest.raises(SecretNotFound):
        env.get(SIGNING_KEYS)
    explicit = Settings(secrets_backend="aws", database_url="sqlite:///given.db")
    assert settings_with_secrets(explicit, env).database_url == "sqlite:///given.db"
