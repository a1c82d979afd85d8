"""The ASGI app that serves Rounds: Flet's web client and session socket, plus health and headers.

Browsers load Flet's Flutter client (static files, several MiB) from here, then talk to the
Python session over the `/ws` WebSocket. Patient data only ever travels over that socket, so
static files may be cached by browsers while every other response is `no-store`.
"""

import base64
import gc
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import flet as ft
import flet_web.fastapi as flet_fastapi
import uvicorn
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.web.compressed import CompressedStaticFiles

if TYPE_CHECKING:
    from app.storage.database import Database

# The repository's assets folder. Rounds runs from a checkout or an editable install, so the
# folder sits two levels above this package (app/web/ -> app/ -> repository root).
ASSETS_DIR: Path = Path(__file__).resolve().parents[2] / "assets"

HEALTH_PATH = "/healthz"

# Everything the Flet client needs, and nothing more. Tested in a real Chromium
# (tests/browser/test_shell.py records any violation):
# - 'wasm-unsafe-eval': CanvasKit / skwasm and the dart2wasm build compile WebAssembly;
# - blob: workers: multi-threaded skwasm starts its worker from a blob URL;
# - style 'unsafe-inline': the Flutter engine styles its DOM with inline style attributes;
# - connect-src 'self' also covers ws:/wss: to the same host (CSP level 3).
# Inline <script> blocks in index.html are allowed by hash, computed per response below.
_CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self' 'wasm-unsafe-eval'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "manifest-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}

_HTML_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_INLINE_SCRIPT = re.compile(
    rb"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)

_STATIC_CACHE_CONTROL = "no-cache"  # cache, but revalidate (ETag): Flet upgrades keep URLs
_DYNAMIC_CACHE_CONTROL = "no-store"

MainFunction = Callable[[ft.Page], Awaitable[None] | None]


def content_security_policy(inline_scripts: list[bytes] | None = None) -> str:
    """The Content-Security-Policy value, allowing the given inline script bodies by hash."""
    directives = dict(_CSP_DIRECTIVES)
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in inline_scripts or []
    ]
    if hashes:
        directives["script-src"] += " " + " ".join(sorted(set(hashes)))
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def is_static_asset(path: str) -> bool:
    """True for a file of the client (JS, WASM, fonts, icons, manifests), never for a page."""
    name = path.rsplit("/", 1)[-1]
    suffix = Path(name).suffix.lower()
    # Paths without a suffix are app routes (Flet answers them with index.html).
    return bool(suffix) and suffix not in {".html", ".htm"} and path != HEALTH_PATH


class ShellHeadersMiddleware:
    """Pure ASGI middleware: cache and security headers, and a same-origin WebSocket check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not _same_origin(Headers(scope=scope)):
                # Refuse before accepting: the server answers the upgrade with HTTP 403. Stops
                # another web page in a ward browser from opening a Rounds session.
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = scope["method"] in {"GET", "HEAD"} and is_static_asset(scope["path"])
        start: Message | None = None
        html_body: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                ok = message["status"] in {200, 304}
                headers["Cache-Control"] = (
                    _STATIC_CACHE_CONTROL if static and ok else _DYNAMIC_CACHE_CONTROL
                )
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                if headers.get("content-type", "").startswith("text/html"):
                    # Hold the head back: the CSP needs the hashes of the page's inline scripts.
                    start = message
                    return
                headers["Content-Security-Policy"] = content_security_policy()
                await send(message)
                return
            if start is not None and message["type"] == "http.response.body":
                html_body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(html_body)
                headers = MutableHeaders(scope=start)
                # Comments first: a "<script>" mentioned in a comment is not a script.
                scripts = _INLINE_SCRIPT.findall(_HTML_COMMENT.sub(b"", body))
                headers["Content-Security-Policy"] = content_security_policy(scripts)
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same_origin(headers: Headers) -> bool:
    """True unless the request carries an Origin whose host:port differs from the Host header."""
    origin = headers.get("origin")
    if not origin:
        return True  # not a browser (browsers always send Origin on WebSocket upgrades)
    host = headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def _rounds_main(settings: Settings, db: "Database | None") -> tuple[MainFunction, list]:
    """The Rounds UI over one Database for the whole process, and what to run at shutdown."""
    from app.cli import open_database
    from app.ui.main import make_main

    if db is not None:
        return make_main(db, settings), []
    # Made here, not per session: one engine (one pool) serves every browser session.
    db = open_database(settings)
    return make_main(db, settings), [db.dispose]


def create_web_app(
    settings: Settings, main: MainFunction | None = None, db: "Database | None" = None
) -> FastAPI:
    """Build the Rounds ASGI app: Flet client and sessions, /healthz, gzip and headers.

    Without `main`, serves the Rounds UI over `db` (or a Database opened from `settings`:
    schema upgraded, secret keys loaded).
    """
    on_shutdown: list = []
    if main is None:
        main, on_shutdown = _rounds_main(settings, db)
    flet_app = flet_fastapi.app(
        main,
        assets_dir=str(ASSETS_DIR),
        route_url_strategy=ft.RouteUrlStrategy.PATH,
        # Ward networks may have no internet: serve CanvasKit and fonts from this server.
        no_cdn=True,
    )
    # flet_web's inner app is a stock FastAPI with /docs and /openapi.json; /docs would pull
    # Swagger UI from a CDN. Rounds has no HTTP API to document.
    flet_app.router.routes = [
        route
        for route in flet_app.router.routes
        if getattr(route, "path", None) not in {"/docs", "/docs/oauth2-redirect", "/redoc"}
        and getattr(route, "path", None) != "/openapi.json"
    ]

    # flet_web's FastAPI subclass: its lifespan starts Flet's session manager (a mounted app's
    # own lifespan never runs, so the outer app must be this class).
    web_app = flet_fastapi.FastAPI(
        title="Rounds",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        on_shutdown=on_shutdown,
    )
    web_app.state.settings = settings

    @web_app.get(HEALTH_PATH, include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness for load balancers and the test harness: the event loop answers."""
        # Unauthenticated: says nothing about sessions, users or the database.
        return {"status": "ok"}

    web_app.mount("/", flet_app)
    # Middleware added last runs first: gzip wraps the header middleware, so the CSP hashes are
    # computed over the uncompressed page.
    web_app.add_middleware(ShellHeadersMiddleware)
    # The client's files are compressed once and kept (app/web/compressed.py); GZip then
    # passes them on as they are and compresses the rest (pages).
    web_app.add_middleware(CompressedStaticFiles, is_static=is_static_asset)
    web_app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    return web_app


def serve(settings: Settings) -> None:
    """Serve Rounds with uvicorn on settings.host:port, over HTTPS when a certificate is set."""
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        raise SystemExit("rounds serve: set both tls_certfile and tls_keyfile, or neither")
    tls: dict[str, str] = {}
    if settings.tls_certfile:
        tls = {"ssl_certfile": settings.tls_certfile, "ssl_keyfile": settings.tls_keyfile}
    # Rounds' own warnings (a failed screen, a slow service call) with the time they happened,
    # for the hospital's log collector; uvicorn keeps its own access and error lines.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web_app = create_web_app(settings)
    # Python's full garbage collection walks every object that can hold a reference, and the
    # whole server waits while it does: 150-230 ms with 25 sessions open, most of it spent
    # on the modules and tables loaded at startup, which live as long as the process anyway.
    # Frozen here, they are left out of every later collection (they are still freed by
    # reference counting, so only cycles among them would stay, as they would anyway).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        web_app,
        host=settings.host,
        port=settings.port,
        # The WebSocket implementation Flet's own server uses.
        ws="websockets-sansio",
        # No per-message compression on the session sockets: each one kept about 40 KB of zlib
        # state for its whole life (a twentieth of a session's memory) and compressed every
        # update on the event loop, to save bytes on a ward network that has them to spare.
        # The client's files are still gzipped (app/web/compressed.py).
        ws_per_message_deflate=False,
        # Open Flet sockets would otherwise hold a restart until every tablet disconnects.
        timeout_graceful_shutdown=5,
        **tls,
    )
