"""Structured JSON logs: request, asset and job ids on every line, and no secret in any line.

Context lives in a contextvar, so it follows a request through async code and into the threadpool, and a
worker rebinds the request id it finds in a queue message's attributes. Redaction runs in a handler filter,
after %-formatting and on tracebacks and `extra` fields too, so nothing reaches the stream unredacted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TextIO

from streamstack.observability import tracing

if TYPE_CHECKING:
    from streamstack.settings import Settings

CONTEXT_FIELDS = ("request_id", "asset_id", "job_id")
REQUEST_ID_ATTRIBUTE = "request_id"
REQUEST_ID_HEADER = "x-request-id"
REDACTED = "[REDACTED]"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("streamstack_log_context", default=_EMPTY)
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# --- context -----------------------------------------------------------------------------------------------


def bind(**fields: str | None) -> Token[Mapping[str, str]]:
    """Add fields to every following log line of this context (task, request, thread); skips None."""
    merged = {**_context.get(), **{key: str(value) for key, value in fields.items() if value is not None}}
    return _context.set(MappingProxyType(merged))


def unbind(token: Token[Mapping[str, str]]) -> None:
    """Restore the context that `bind` replaced."""
    _context.reset(token)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """`with log_context(asset_id=..., job_id=...):` puts the ids on every line inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current_context() -> Mapping[str, str]:
    """The fields bound in this context."""
    return _context.get()


def current_request_id() -> str | None:
    """The request id of the request (or message) being handled, if any."""
    return _context.get().get(REQUEST_ID_ATTRIBUTE)


def new_request_id() -> str:
    """A fresh id for a request that arrived without a valid one."""
    return uuid.uuid4().hex


def valid_request_id(candidate: str | None) -> str:
    """The caller's id if it is short and plain (it ends up in logs and headers), a new one otherwise."""
    return candidate if candidate and _VALID_REQUEST_ID.fullmatch(candidate) else new_request_id()


def inject_request_id(attributes: Mapping[str, str] | None = None) -> dict[str, str]:
    """Attributes carrying the current request id: `queue.send(body, attributes=inject_request_id())`."""
    result = dict(attributes or {})
    request_id = current_request_id()
    if request_id is not None:
        result[REQUEST_ID_ATTRIBUTE] = request_id
    return result


def extract_request_id(attributes: Mapping[str, Any] | None) -> str | None:
    """The request id from `Message.message_attributes` or from a Lambda SQS record's `messageAttributes`."""
    value = (attributes or {}).get(REQUEST_ID_ATTRIBUTE)
    if isinstance(value, Mapping):
        value = value.get("stringValue")
    return value if isinstance(value, str) and _VALID_REQUEST_ID.fullmatch(value) else None


def message_context(attributes: Mapping[str, Any] | None, **fields: str | None) -> Any:
    """`with message_context(message.message_attributes):` continues the sender's request id in a handler."""
    return log_context(request_id=extract_request_id(attributes) or new_request_id(), **fields)


# --- redaction ---------------------------------------------------------------------------------------------

_SECRET_KEY_WORDS = (
    r"password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signature"
    r"|authorization|cookie|credential"
)
_SECRET_KEY = re.compile(rf"(?i)^[\w-]*(?:{_SECRET_KEY_WORDS})$")
_VALUE = r"(?![^\s\"'&;,}\]]*\[REDACTED)(\"[^\"]*\"|'[^']*'|[^\s\"'&;,}\]]+)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
        "[REDACTED PRIVATE KEY]",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"\b(ssk|whsec|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9_+/=-]{6,}"), rf"\1_{REDACTED}"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/=]{6,}"), rf"\1 {REDACTED}"),
    (re.compile(rf"(?i)(\b[\w-]*(?:{_SECRET_KEY_WORDS})[\"']?\s*[:=]\s*){_VALUE}"), rf"\1{REDACTED}"),
    # CloudFront's Policy is long base64; a playback `policy=signed` is not a secret and stays readable.
    (re.compile(r"\b((?:CloudFront-)?Policy[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9_~+/=-]{20,}"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    """Remove API keys, tokens, signed-URL signatures and policies, passwords and private keys from text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings, and whole values under secret-looking keys, inside nested dicts and lists."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_KEY.match(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [redact_value(item) for item in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "context"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS}


class RedactingFilter(logging.Filter):
    """Rewrites the record in place so every formatter and handler after it sees only redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, REDACTED if _SECRET_KEY.match(key) else redact_value(value))
        return True


class ContextFilter(logging.Filter):
    """Snapshots the bound context and the trace ids onto the record when it is created."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        context: dict[str, str] = dict(_context.get())
        if self.service:
            context.setdefault("service", self.service)
        context.update(tracing.current_trace_ids())
        record.context = context
        return True


# --- formatting and setup ----------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
            **_extras(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the same context ids."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{key}={value}" for key, value in getattr(record, "context", {}).items())
        return f"{line} [{context}]" if context else line


_HANDLER_MARK = "_streamstack_handler"


def configure_logging(
    settings: Settings, *, service: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Install the one root handler (idempotent): JSON or text per Settings.log_json, context, redaction."""
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler


# --- ASGI --------------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RequestContextMiddleware:
    """Binds the request id (the caller's X-Request-ID if plain, else a new one) and echoes it back."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = valid_request_id(_header(scope, REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id  # also `request.state.request_id` in views

        async def add_header(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, add_header)


def _header(scope: Scope, name: str) -> str | None:
    raw = name.encode()
    for key, value in scope.get("headers", ()):
        if key.lower() == raw:
            return value.decode("latin-1")
    return None
