"""The API application: routers, auth, request ids, health checks and problem+json errors."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamstack import __version__
from streamstack.db.session import ping as ping_catalog
from streamstack.errors import Problem, document_problems, problem_response
from streamstack.observability import instrument_app, metrics
from streamstack.platform import Platform
from streamstack.queue.base import QueueUnavailable
from streamstack.storage.base import StorageUnavailable

log = logging.getLogger("streamstack.api")


def create_app(platform: Platform) -> FastAPI:
    from streamstack.assets.track_views import router as tracks_router
    from streamstack.assets.views import router as assets_router
    from streamstack.live.views import router as live_router
    from streamstack.playback.views import router as playback_router
    from streamstack.uploads.s3_multipart import router as direct_uploads_router
    from streamstack.uploads.views import router as uploads_router
    from streamstack.web import mount_console
    from streamstack.webhooks.views import router as webhooks_router

    app = FastAPI(title="streamstack", version=__version__,
                  description="Upload, encode to adaptive HLS, deliver with signed playback, react to events.")
    app.state.platform = platform
    app.include_router(uploads_router)
    app.include_router(direct_uploads_router)
    app.include_router(assets_router)
    app.include_router(tracks_router)
    app.include_router(live_router)
    app.include_router(playback_router)
    app.include_router(webhooks_router)
    mount_console(app, platform)
    add_health_routes(app)
    add_error_handlers(app)
    document_problems_in_openapi(app)
    instrument_app(app, service="api", settings=platform.settings, before_scrape=lambda: refresh_queues(platform))
    return app


def refresh_queues(platform: Platform) -> None:
    """Queue depth, oldest age and DLQ depth are pulled from the queues at scrape time."""
    for queue in platform.queues.values():
        metrics.refresh_queue(queue)


def add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Readiness for the load balancer: catalog, store and queue all answer."""
        platform: Platform = request.app.state.platform
        checks = {
            "catalog": lambda: ping_catalog(platform.engine),
            "store": platform.store.ping,
            "queue": lambda: platform.encode_queue.stats(),
        }
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                results[name] = "unavailable"
        ready = all(value == "ok" for value in results.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", "checks": results},
                            status_code=200 if ready else 503)


def document_problems_in_openapi(app: FastAPI) -> None:
    """/openapi.json declares the problem+json errors the handlers below answer with."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return problem_response(request, Problem(422, "Unprocessable Content", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(exc.status_code, _title(exc.status_code), str(exc.detail) if exc.detail else None,
                          headers=dict(exc.headers or {}))
        return problem_response(request, problem)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("backend unavailable during %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(request, Problem(503, "Service Unavailable",
                                                 "a backend is unavailable; nothing was changed, retry later",
                                                 headers={"Retry-After": "5"}))

    for error in (StorageUnavailable, QueueUnavailable, OperationalError):
        app.add_exception_handler(error, on_unavailable)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
