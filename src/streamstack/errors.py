"""RFC 9457 problem details: the one error shape every endpoint answers with."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a request to answer with application/problem+json."""

    def __init__(self, status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    body["instance"] = request.url.path
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def not_found(kind: str, object_id: str) -> Problem:
    return Problem(404, "Not Found", f"{kind} {object_id!r} does not exist")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "description": "A stable code for problems a client may handle specially."},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "Each invalid field (422)."},
    },
}
_METHODS = ("get", "put", "post", "delete", "patch")
_EVERY_API_CALL = (400, 401, 403, 422, 503)  # malformed, no key, no scope, invalid, a backend down
_CHANGES = (409, 413)  # a conflict (state, Idempotency-Key in progress), a body or declared size too large


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Declare the problem+json answers every /v1 operation can give, so clients and fuzzers know their shape."""
    openapi.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(status) for status in responses if status.isascii() and status.isdigit()}
            statuses = _problem_statuses(path, method) if path.startswith("/v1/") else {422} & declared
            for status in sorted(statuses):
                responses[str(status)] = {"description": HTTPStatus(status).phrase, **problem}
    for unused in ("HTTPValidationError", "ValidationError"):
        openapi["components"]["schemas"].pop(unused, None)
    return openapi


def _problem_statuses(path: str, method: str) -> set[int]:
    statuses = set(_EVERY_API_CALL)
    if "{" in path:
        statuses.add(404)
    if method != "get":
        statuses.update(_CHANGES)
    return statuses
