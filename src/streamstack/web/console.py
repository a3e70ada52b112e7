"""The web console at `/`, the embeddable player at `/embed/{playback_id}`, and their static files.

The console is a no-build single-page app (HTML, ES modules, CSS) that talks to the public REST API with
the user's API key, so it can do nothing an integrator's own code could not. hls.js is not in the
repository: `scripts/fetch-hls-js` vendors a pinned release from npm into `static/vendor/`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from streamstack.errors import Problem
from streamstack.platform import Platform
from streamstack.web.health import DEFAULT_INTERVAL, attach_sampler
from streamstack.web.health import router as health_router

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
HLS_JS = STATIC_DIR / "vendor" / "hls.min.js"
PLAYBACK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

router = APIRouter(include_in_schema=False)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a base URL, as CSP source lists want it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(edge_base_url: str, *, frame_ancestors: str) -> str:
    """Scripts only from this origin; media and playlists from the edge; hls.js' blob: workers and MSE."""
    edge = origin_of(edge_base_url)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: {edge}",
        f"connect-src 'self' {edge}",
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        f"frame-ancestors {frame_ancestors}",
    ])


def render(template: str, **values: str) -> str:
    """Fill `{{name}}` placeholders with HTML-escaped values (the templates hold no other logic)."""
    text = (TEMPLATES_DIR / template).read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", html.escape(value, quote=True))
    return text


def page(request: Request, template: str, *, frame_ancestors: str, **values: str) -> HTMLResponse:
    platform: Platform = request.app.state.platform
    settings = platform.settings
    body = render(template, edge_base_url=settings.edge_base_url, api_base_url=settings.api_base_url,
                  hls_available="true" if HLS_JS.is_file() else "false", **values)
    headers = {
        "Content-Security-Policy": content_security_policy(settings.edge_base_url, frame_ancestors=frame_ancestors),
        "Cache-Control": "no-cache",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, headers=headers)


@router.get("/", response_class=HTMLResponse)
def console(request: Request) -> HTMLResponse:
    """The single-page console; routing happens client-side on the URL fragment."""
    return page(request, "console.html", frame_ancestors="'self'")


@router.get("/embed/{playback_id}", response_class=HTMLResponse)
def embed(playback_id: str, request: Request) -> HTMLResponse:
    """A chrome-less player for `<iframe>` embedding anywhere; a signed query is passed on to the edge."""
    if not PLAYBACK_ID.match(playback_id):
        raise Problem(404, "Not Found", "no such playback id")
    return page(request, "embed.html", frame_ancestors="*", playback_id=playback_id)


def mount_console(app: FastAPI, platform: Platform, *, metrics_interval: float = DEFAULT_INTERVAL) -> None:
    """Add the console, the embed page, `/static` and `GET /v1/metrics/summary` to the API app."""
    app.include_router(router)
    app.include_router(health_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    attach_sampler(app, platform, interval=metrics_interval)
