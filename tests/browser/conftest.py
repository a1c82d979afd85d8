"""Browser harness: the real `rounds serve` in a subprocess, Debian's Chromium through Playwright.

Fixtures: `rounds_server` (session, a LiveServer), `playwright_driver` (session), `chromium`
(session, a Browser), and per test `request_log` (a RequestLog), `browser_context` (a fresh
phone-sized context that feeds request_log) and `app_page` (a page in it, not yet navigated).
Helpers: `open_app`, `enable_semantics`, `csp_violations`, `is_foreign`, `PHONE`, `TABLET`,
`SCREENSHOTS`.
"""

import contextlib
import json
import re
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Locator,
    Page,
    Playwright,
    Request,
    Route,
    WebSocket,
    sync_playwright,
)

from tests.web.live_server import REPO_ROOT, LiveServer, rounds_serve

CHROMIUM_PATH = "/usr/bin/chromium"  # Debian's package; never `playwright install`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, int] = {"width": 390, "height": 844}
TABLET: dict[str, int] = {"width": 1024, "height": 768}
SCREENSHOTS = Path(__file__).parent / "screenshots"

# First load compiles several MiB of WebAssembly; generous for a busy 2-core CI machine.
LOAD_TIMEOUT_MS = 60_000

# Collects Content-Security-Policy violations: a blocked fetch() or WebSocket to another host
# never becomes a request, so only this sees the attempt.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.violatedDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber,
  });
});
"""

_LOCAL_SCHEMES = {"blob", "data", "about"}  # stay inside the browser

# The app paints its background in the manifest's background_color (as the splash does), so a
# screenshot whose corner has that colour shows the app, not Flet's light "Working..." screen.
MANIFEST_BACKGROUND = json.loads((REPO_ROOT / "assets" / "manifest.json").read_text())[
    "background_color"
]
PAINT_TIMEOUT_S = 15.0


def is_foreign(url: str, server_netloc: str) -> bool:
    """True if a request to url would leave for anything but the Rounds server."""
    parts = urlsplit(url)
    if parts.scheme in _LOCAL_SCHEMES:
        return False
    return parts.netloc.lower() != server_netloc.lower()


@dataclass
class RequestLog:
    """Every request a browser context makes, seen four ways, and its CSP violations."""

    server_netloc: str
    playwright_requests: list[str] = field(default_factory=list)
    routed_requests: list[str] = field(default_factory=list)
    cdp_requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    transferred_bytes: int = 0  # bytes on the wire (headers + compressed bodies), per CDP

    def attach(self, context: BrowserContext) -> None:
        """Record requests of every page and worker in the context; abort foreign ones."""
        context.on("request", lambda request: self.playwright_requests.append(request.url))
        context.on("requestfinished", self._finished)
        context.route("**/*", self._route)

    def attach_page(self, context: BrowserContext, page: Page) -> CDPSession:
        """Also record what Chromium's network stack reports for the page (CDP) and sockets."""
        page.on("websocket", lambda socket: self._socket(socket))
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.requestWillBeSent", lambda e: self.cdp_requests.append(e["request"]["url"]))
        cdp.on("Network.webSocketCreated", lambda e: self.websockets.append(e["url"]))
        cdp.on("Network.loadingFinished", self._loaded)
        return cdp

    def _loaded(self, event: dict[str, Any]) -> None:
        self.transferred_bytes += int(event["encodedDataLength"])

    def _socket(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)

    def _finished(self, request: Request) -> None:
        with contextlib.suppress(Exception):  # the response may be gone with a closed page
            response = request.response()
            if response is not None:
                self.statuses[request.url] = response.status

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.routed_requests.append(url)
        # Belt and braces: even if the page tried, nothing leaves the machine during tests.
        if is_foreign(url, self.server_netloc):
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def foreign(self) -> dict[str, list[str]]:
        """Foreign URLs per recorder (empty lists when the page stayed on the server)."""
        return {
            name: sorted({url for url in urls if is_foreign(url, self.server_netloc)})
            for name, urls in {
                "playwright": self.playwright_requests,
                "route": self.routed_requests,
                "cdp": self.cdp_requests,
                "websocket": self.websockets,
            }.items()
        }

    def all_urls(self) -> set[str]:
        """Every URL any recorder saw."""
        return {
            *self.playwright_requests,
            *self.routed_requests,
            *self.cdp_requests,
            *self.websockets,
        }


def csp_violations(page: Page) -> list[dict[str, Any]]:
    """The Content-Security-Policy violations the page has reported so far."""
    return list(page.evaluate("window.__cspViolations || []"))


def enable_semantics(page: Page) -> None:
    """Turn on Flutter's accessibility tree, so controls are found by role and label."""
    placeholder = page.locator("flt-semantics-placeholder")
    placeholder.wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)
    # A real click can miss: the placeholder is 1x1 px and off-screen by design.
    page.evaluate("document.querySelector('flt-semantics-placeholder').click()")
    page.locator("flt-semantics").first.wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)


def announced(page: Page, text: str | re.Pattern[str]) -> Locator:
    """A message at the bottom of the screen (a SnackBar). Flutter exposes its text either as
    text or, when it folds the text into the bar's own node, as that node's label; a screen
    reader reads both the same."""
    return page.get_by_text(text).or_(page.get_by_label(text)).first


def first_pixel(png: bytes) -> tuple[int, int, int]:
    """The top-left pixel's RGB of a PNG screenshot (8-bit RGB or RGBA, as Chromium writes)."""
    depth, colour_type = struct.unpack(">BB", png[24:26])
    assert depth == 8 and colour_type in {2, 6}, f"unexpected PNG format {depth}/{colour_type}"
    position, data = 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    row = zlib.decompressobj().decompress(data, 8)
    # Every PNG row filter leaves the first pixel of the first row as stored (no neighbours).
    return row[1], row[2], row[3]


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def wait_until_painted(page: Page, background: str = MANIFEST_BACKGROUND) -> bytes:
    """Wait until the canvas shows the app, unchanged between captures; return that screenshot.

    Flutter's semantics tree (what get_by_role sees) is ready a few frames before the pixels:
    skwasm paints on a worker, and a screenshot taken at once can still show a blank canvas or
    Flet's "Working..." screen. The app's background colour in the corner and three identical
    captures in a row mean the frame is on screen.
    """
    deadline = time.monotonic() + PAINT_TIMEOUT_S
    expected = _hex_rgb(background)
    previous, same, corner = b"", 0, (0, 0, 0)
    while time.monotonic() < deadline:
        shot = page.screenshot()
        corner = first_pixel(shot)
        same = same + 1 if shot == previous and corner == expected else 0
        if same >= 2:
            return shot
        previous = shot
        page.wait_for_timeout(100)  # polling interval between captures, not an assertion
    raise AssertionError(
        f"screen not settled on the app background {background} within {PAINT_TIMEOUT_S} s "
        f"(corner pixel {corner})"
    )


def open_app(page: Page, server: LiveServer, path: str = "/") -> None:
    """Load Rounds at path, wait for the Flutter client to replace the splash, enable semantics."""
    page.goto(server.url(path))
    page.wait_for_selector("#loading", state="detached", timeout=LOAD_TIMEOUT_MS)
    enable_semantics(page)


# Lines of the server's log shown under a failed browser test: a screen that stayed empty is
# explained there (a failed screen's trace, a slow service call and its wait for a thread).
SERVER_LOG_LINES = 60


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    server = getattr(item, "funcargs", {}).get("rounds_server")
    if report.failed and isinstance(server, LiveServer):
        tail = server.log().splitlines()[-SERVER_LOG_LINES:]
        report.sections.append(("server log (last lines)", "\n".join(tail)))
    return report


@pytest.fixture(scope="session")
def rounds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `rounds serve` for the whole browser session, on a free loopback port."""
    with rounds_serve(tmp_path_factory.mktemp("rounds-server")) as server:
        yield server


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync driver (named so as not to clash with pytest-playwright's fixtures)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def request_log(rounds_server: LiveServer) -> RequestLog:
    """An empty RequestLog for the server; `browser_context` attaches it."""
    return RequestLog(server_netloc=urlsplit(rounds_server.base_url).netloc)


@pytest.fixture
def browser_context(chromium: Browser, request_log: RequestLog) -> Iterator[BrowserContext]:
    """A fresh incognito context (phone-sized) that records requests and CSP violations."""
    context = chromium.new_context(viewport=PHONE)
    context.add_init_script(CSP_RECORDER)
    request_log.attach(context)
    yield context
    context.close()


@pytest.fixture
def app_page(browser_context: BrowserContext, request_log: RequestLog) -> Page:
    """A page in `browser_context`, recorded through CDP as well; not yet navigated."""
    page = browser_context.new_page()
    request_log.attach_page(browser_context, page)
    return page
