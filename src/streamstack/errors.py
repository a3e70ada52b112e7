"""RFC 9457 problem details: the one error shape every endpoint answers with."""

from __future__ import annotations

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
