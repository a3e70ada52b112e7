"""Secrets (database URL, playback signing private keys, webhook secrets) from the environment or Secrets Manager.

Values are cached for settings.secrets_refresh_seconds, so a rotation reaches running tasks without a
restart; when a refresh fails the last good value keeps serving. A value never appears in a log line,
an exception message or a repr: errors name the secret, never its content.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from streamstack.aws import client, error_code
from streamstack.settings import Settings

log = logging.getLogger("streamstack.secrets")

DATABASE_URL = "database-url"
SIGNING_KEYS = "playback-signing-key"  # JSON object: CloudFront key-pair id -> private key PEM
WEBHOOK_SECRETS = "webhook-signing-secret"  # JSON object: webhook endpoint id -> whsec_... secret
DEFAULT_PREFIX = "streamstack/"
ENV_PREFIX = "STREAMSTACK_SECRET_"
NOT_FOUND_CODES = {"ResourceNotFoundException"}


class SecretNotFound(KeyError):
    """The secret does not exist (the message names it, nothing more)."""


class SecretsUnavailable(RuntimeError):
    """Secrets Manager failed and no earlier value is cached."""


class SecretsProvider(Protocol):
    def get(self, name: str) -> str:
        """The current value of the secret `name`."""
        ...


class EnvSecrets:
    """The embedded shape: STREAMSTACK_SECRET_<NAME> (dashes become underscores)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def get(self, name: str) -> str:
        variable = ENV_PREFIX + name.upper().replace("-", "_")
        try:
            return self.environ[variable]
        except KeyError:
            raise SecretNotFound(f"secret {name!r} is not set ({variable})") from None


class AwsSecrets:
    """Secrets Manager GetSecretValue of `<prefix><name>`, cached with a refresh interval."""

    def __init__(self, sm_client: Any, *, prefix: str = DEFAULT_PREFIX, refresh_seconds: float = 300,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = sm_client
        self.prefix = prefix
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsSecrets:
        return cls(client("secretsmanager", settings), prefix=settings.secrets_prefix,
                   refresh_seconds=settings.secrets_refresh_seconds)

    def __repr__(self) -> str:
        return f"AwsSecrets(prefix={self.prefix!r}, cached={sorted(self._cache)})"

    def get(self, name: str) -> str:
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and self.clock() - cached[1] < self.refresh_seconds:
                return cached[0]
            try:
                value = self._fetch(name)
            except SecretsUnavailable:
                if cached is None:
                    raise
                log.warning("secret refresh failed; serving the cached value", extra={"secret_name": name})
                return cached[0]
            self._cache[name] = (value, self.clock())
            return value

    def _fetch(self, name: str) -> str:
        secret_id = self.prefix + name
        try:
            response = self.client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                raise SecretNotFound(f"secret {secret_id!r} does not exist") from None
            raise SecretsUnavailable(f"could not read secret {secret_id!r}: {code}") from None
        except BotoCoreError as exc:
            raise SecretsUnavailable(f"could not read secret {secret_id!r}: {type(exc).__name__}") from None
        if "SecretString" not in response:
            raise SecretsUnavailable(f"secret {secret_id!r} is binary; store it as a string")
        return str(response["SecretString"])


class _SecretResponseFilter(logging.Filter):
    """botocore logs whole response bodies at DEBUG; drop the body of a GetSecretValue answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = repr(record.args) if record.args else str(record.msg)
        if "SecretString" in text or "SecretBinary" in text:
            record.msg, record.args = "Response body: [secret value omitted]", None
        return True


def _guard_botocore_logs() -> None:
    """Install the filter once on the loggers that print response bodies."""
    for name in ("botocore.parsers", "botocore.endpoint"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SecretResponseFilter) for f in logger.filters):
            logger.addFilter(_SecretResponseFilter())


def open_secrets(settings: Settings) -> SecretsProvider:
    """Secrets Manager when settings.secrets_backend is aws, else the environment."""
    if settings.secrets_backend == "aws":
        _guard_botocore_logs()
        return AwsSecrets.from_settings(settings)
    return EnvSecrets()


def settings_with_secrets(settings: Settings, secrets: SecretsProvider | None = None) -> Settings:
    """Settings whose database_url comes from the `database-url` secret (aws backend, no explicit URL)."""
    if settings.secrets_backend != "aws" or settings.database_url:
        return settings
    url = (secrets or open_secrets(settings)).get(DATABASE_URL)
    return settings.model_copy(update={"database_url": url})


def signing_private_keys(secrets: SecretsProvider) -> dict[str, str]:
    """Playback signing keys: CloudFront key-pair id -> private key PEM."""
    return _json_object(secrets, SIGNING_KEYS)


def webhook_secret(secrets: SecretsProvider, endpoint_id: str) -> str | None:
    """The signing secret of one webhook endpoint, None when the secret does not list it."""
    return _json_object(secrets, WEBHOOK_SECRETS).get(endpoint_id)


def _json_object(secrets: SecretsProvider, name: str) -> dict[str, str]:
    """A secret holding a JSON object of strings; a malformed one is reported without its content."""
    try:
        value = json.loads(secrets.get(name))
    except json.JSONDecodeError:
        raise ValueError(f"secret {name!r} is not valid JSON") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"secret {name!r} must be a JSON object of strings")
    return value
