"""The pages and files of the web UI (docs/web.md). The dashboard and the widget are
static files; the server adds only what it alone knows: its version (to bust caches), whether
the development mailbox exists, and for ``/demo`` the widget key to show."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

import frontdesk
from frontdesk.errors import NotFound
from frontdesk.service.accounts import sole_widget_key
from frontdesk.service.runtime import Runtime

HERE = Path(__file__).parent
STATIC = HERE / "static"
# The dashboard's modules import each other by relative URLs ("./api.js"), which carry no
# "?v=": its folder is served under a path that names the version instead. A page then loads
# every module and style of its own version, and an upgrade changes all their URLs at once,
# so a browser never puts a new module beside an old one it kept.
DASHBOARD_FILES = f"/static/dashboard@{frontdesk.__version__}"
LOCALES = ("en", "de", "cs")
DEMO_PAGES = ("shop", "product")
WIDGET_KEY = r"^[A-Za-z0-9_-]{1,64}$"  # as the API's widget key

# The dashboard runs only its own files: hostile text that ever escaped into its HTML could
# still not run a script, nor send anything anywhere but here ('self' covers its own
# WebSocket). It may be framed by nobody; the caught mail it links to is a page of its own.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(DASHBOARD_FILES, StaticFiles(directory=STATIC / "dashboard"), name="dashboard")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/app", status_code=307)


@router.get("/app")
def dashboard(request: Request) -> HTMLResponse:
    """The dashboard: one page; the parts after ``#`` (``#/settings``) are its screens."""
    settings = _runtime(request).settings
    config = {
        "version": frontdesk.__version__,
        "locales": list(LOCALES),
        # The built-in catcher's mailbox, linked from the dashboard (api/routes/mailbox.py
        # still answers only requests from this machine).
        "mailbox": not settings.smtp_url,
        # Whether the login offers "Create an account" (FRONTDESK_SIGNUP).
        "signup": settings.signup,
    }
    html = _template("dashboard.html").render(files=DASHBOARD_FILES, config=json.dumps(config))
    return HTMLResponse(html, headers={"Content-Security-Policy": DASHBOARD_CSP, **NO_STORE})


@router.get("/dashboard/{screen:path}")
def dashboard_link(screen: str) -> RedirectResponse:
    """The links of the e-mails (``/dashboard/conversations/12``, ``/dashboard/profile``)
    lead to that screen of the dashboard, whose screens live after the ``#``."""
    return RedirectResponse(f"/app#/{quote(screen, safe='/')}", status_code=307)


# The web app manifest: the dashboard can be installed on a phone's home screen or a
# desktop, and then opens on its own, like an app (docs/push.md).
MANIFEST = {
    "id": "/app",
    "name": "Frontdesk",
    "short_name": "Frontdesk",
    "description": "Live chat with your website's visitors.",
    "start_url": "/app",
    "scope": "/app",
    "display": "standalone",
    "background_color": "#f4f5f7",
    "theme_color": "#2557d6",
    "icons": [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "/static/icons/icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ],
}


@router.get("/app.webmanifest")
def manifest() -> Response:
    return Response(
        json.dumps(MANIFEST),
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The dashboard's service worker (pushes and their clicks), registered for ``/app``.
    Checked for a new version at every visit: browsers do not cache it for long anyway."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/widget.js")
def widget_script() -> FileResponse:
    """The widget, for ``<script src="…/widget.js" data-key="…" async>`` on any website."""
    return FileResponse(
        STATIC / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/demo")
@router.get("/demo/{page}")
def demo(
    request: Request,
    page: str = "shop",
    key: Annotated[str | None, Query(pattern=WIDGET_KEY)] = None,
    group: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    locale: Annotated[str | None, Query(pattern="^(en|de|cs)$")] = None,
) -> Response:
    """A sample shop with the widget: the whole flow in a browser on a new installation.
    Without ``key`` it uses the widget of the installation's only account."""
    if page not in DEMO_PAGES:
        raise NotFound(
            "The demo shop has the pages /demo and /demo/product.", code="page_not_found"
        )
    widget_key = key or sole_widget_key(_runtime(request))
    html = _template("demo.html").render(
        page=page, widget_key=widget_key, group=group, locale=locale
    )
    return HTMLResponse(html, headers=NO_STORE)


@cache
def _template(name: str) -> Template:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    return environment.get_template(name)
