"""The serving shell in a real Chromium: renders, stays on the server, installs, fits screens."""

import gzip
import json
import ssl
import struct
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import flet_web
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect
from playwright.sync_api import Error as PlaywrightError

from app.web.tls import make_ward_certificates
from tests.browser.conftest import (
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    CSP_RECORDER,
    LOAD_TIMEOUT_MS,
    PHONE,
    SCREENSHOTS,
    TABLET,
    RequestLog,
    csp_violations,
    open_app,
    wait_until_painted,
)
from tests.web.live_server import LiveServer, rounds_serve

pytestmark = pytest.mark.browser

FLET_WEB_DIR = Path(flet_web.get_package_web_dir())
# How long a loaded page is watched for late requests (timers, lazy loaders, reconnects).
IDLE_MS = 5_000
# Older tablets without WebAssembly GC get Flet's JavaScript build (main.dart.js + CanvasKit);
# hiding WebAssembly.validate makes Chromium take that path.
FORCE_JS_BUILD = "WebAssembly.validate = () => false;"
# What the first visit may cost over the ward network, gzip included (measured about 5.5 MB).
FIRST_LOAD_BUDGET = 8_000_000

# Each screen, and the control that says it has rendered. Later screens add themselves here.
SCREENS = [("sign-in", "/", ("button", "Sign in"))]
VIEWPORTS = [("phone", PHONE), ("tablet", TABLET)]


def _http_get(server: LiveServer, path: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(server.url(path), headers=headers or {})
    return urllib.request.urlopen(request, timeout=30)


def test_sign_in_screen_renders(app_page: Page, rounds_server: LiveServer) -> None:
    open_app(app_page, rounds_server)
    expect(app_page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(app_page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(app_page.get_by_role("textbox", name="Password")).to_be_visible()
    assert app_page.title() == "Rounds"


def test_sign_in_button_answers_with_a_message(app_page: Page, rounds_server: LiveServer) -> None:
    open_app(app_page, rounds_server)
    app_page.get_by_role("textbox", name="Username").fill("amy.tech")
    app_page.get_by_role("textbox", name="Password").fill("not-a-real-password")
    app_page.get_by_role("button", name="Sign in").click()
    expect(app_page.get_by_text("Username or password is not right.")).to_be_visible()
    # The sign-in screen never keeps what was typed as a password.
    expect(app_page.get_by_text("not-a-real-password")).to_have_count(0)


@pytest.mark.parametrize("build", ["wasm", "js"])
def test_zero_requests_leave_for_other_hosts(
    app_page: Page, rounds_server: LiveServer, request_log: RequestLog, build: str
) -> None:
    if build == "js":
        app_page.add_init_script(FORCE_JS_BUILD)
    open_app(app_page, rounds_server)
    expect(app_page.get_by_role("button", name="Sign in")).to_be_visible()
    app_page.wait_for_timeout(IDLE_MS)  # an observation window; the assertions follow

    assert request_log.foreign() == {"playwright": [], "route": [], "cdp": [], "websocket": []}
    assert csp_violations(app_page) == []

    # The recorders really were recording this page and this build.
    urls = request_log.all_urls()
    main = "main.dart.wasm" if build == "wasm" else "main.dart.js"
    assert rounds_server.url("/" + main) in urls
    assert rounds_server.url("/ws").replace("http", "ws", 1) in request_log.websockets
    # The Rive runtime Flet's client asks a CDN for came from this server's stub instead.
    offline = [url for url in urls if "/offline/" in url]
    assert any(url.endswith("/wasm/rive_native.js") for url in offline)
    assert {request_log.statuses.get(url) for url in offline} == {200}


def test_request_recorders_do_catch_foreign_requests(
    app_page: Page, rounds_server: LiveServer, request_log: RequestLog
) -> None:
    # The negative control for the test above: every recorder flags what it can see.
    open_app(app_page, rounds_server)
    app_page.evaluate(
        """() => {
          new Image().src = "https://images.example.invalid/p.png";
          fetch("https://api.example.invalid/x").catch(() => {});
          try { new WebSocket("wss://socket.example.invalid/x"); } catch (error) {}
        }"""
    )
    with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):  # aborted by the route
        app_page.goto("https://navigation.example.invalid/")
    foreign = request_log.foreign()
    assert "https://images.example.invalid/p.png" in foreign["playwright"]
    assert "https://images.example.invalid/p.png" in foreign["cdp"]
    assert "https://navigation.example.invalid/" in foreign["route"]


def test_csp_recorder_catches_blocked_connections(
    app_page: Page, rounds_server: LiveServer
) -> None:
    open_app(app_page, rounds_server)
    app_page.evaluate('() => fetch("https://api.example.invalid/x").catch(() => {})')
    app_page.wait_for_function("window.__cspViolations.length > 0", timeout=5_000)
    blocked = [violation["blocked"] for violation in csp_violations(app_page)]
    assert "https://api.example.invalid/x" in blocked


def test_installable_from_loopback(
    playwright_driver: Playwright, rounds_server: LiveServer
) -> None:
    # Chromium only reports installability in a normal (non-incognito) profile.
    with tempfile.TemporaryDirectory(prefix="rounds-profile-") as profile:
        context = playwright_driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            page.goto(rounds_server.url("/"))
            page.wait_for_selector("#loading", state="detached", timeout=LOAD_TIMEOUT_MS)
            cdp = context.new_cdp_session(page)
            manifest = cdp.send("Page.getAppManifest")
            assert manifest["url"] == rounds_server.url("/manifest.json")
            assert manifest["errors"] == []
            assert cdp.send("Page.getInstallabilityErrors") == {"installabilityErrors": []}
        finally:
            context.close()


def test_manifest_is_served_with_name_and_icon_sizes(rounds_server: LiveServer) -> None:
    with _http_get(rounds_server, "/manifest.json") as response:
        manifest = json.load(response)
    assert (manifest["name"], manifest["short_name"]) == ("Rounds", "Rounds")
    sizes = sorted((icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"])
    assert sizes == [
        ("192x192", "any"),
        ("192x192", "maskable"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    ]
    for icon in manifest["icons"]:
        with _http_get(rounds_server, "/" + icon["src"]) as response:
            assert response.headers["Content-Type"] == "image/png"
            data = response.read()
        width, height = struct.unpack(">II", data[16:24])
        assert f"{width}x{height}" == icon["sizes"]


@pytest.mark.parametrize("path", ["/", "/patients/12"])
def test_pages_are_served_no_store(rounds_server: LiveServer, path: str) -> None:
    with _http_get(rounds_server, path) as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_main_dart_js_is_served_gzipped(rounds_server: LiveServer) -> None:
    with _http_get(rounds_server, "/main.dart.js", {"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        wire = response.read()
    raw = (FLET_WEB_DIR / "main.dart.js").read_bytes()
    assert gzip.decompress(wire) == raw
    assert len(wire) < len(raw) * 0.4


def test_first_load_fits_the_budget(
    app_page: Page, rounds_server: LiveServer, request_log: RequestLog
) -> None:
    open_app(app_page, rounds_server)
    expect(app_page.get_by_role("button", name="Sign in")).to_be_visible()
    print(
        f"\nfirst load: {request_log.transferred_bytes} bytes on the wire; "
        f"server healthy {rounds_server.started_in:.2f} s after start"
    )
    assert 1_000_000 < request_log.transferred_bytes < FIRST_LOAD_BUDGET


@pytest.mark.parametrize(("viewport_name", "viewport"), VIEWPORTS, ids=[v[0] for v in VIEWPORTS])
@pytest.mark.parametrize(("screen", "path", "ready"), SCREENS, ids=[s[0] for s in SCREENS])
def test_screens_fit_phone_and_tablet(
    chromium: Browser,
    rounds_server: LiveServer,
    screen: str,
    path: str,
    ready: tuple[str, str],
    viewport_name: str,
    viewport: dict[str, int],
) -> None:
    context = chromium.new_context(viewport=viewport)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        open_app(page, rounds_server, path)
        role, name = ready
        target = page.get_by_role(role, name=name)  # type: ignore[arg-type]
        expect(target).to_be_visible()
        for control in [target, page.get_by_role("textbox", name="Username")]:
            box = control.bounding_box()
            assert box is not None
            # Fully on screen: nothing cut off at either size.
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
        # Centred, not stuck to the left edge of a tablet.
        box = target.bounding_box()
        assert box is not None
        assert abs(box["x"] + box["width"] / 2 - viewport["width"] / 2) < viewport["width"] * 0.05
        shot = wait_until_painted(page)
        assert struct.unpack(">II", shot[16:24]) == (viewport["width"], viewport["height"])
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / f"{screen}-{viewport_name}.png").write_bytes(shot)
    finally:
        context.close()


def test_app_works_over_https(chromium: Browser, tmp_path: Path) -> None:
    # Ward devices use HTTPS (rounds tls): the socket is then wss://, which the CSP's
    # connect-src 'self' must still allow.
    ca, cert, key = make_ward_certificates(["127.0.0.1"], tmp_path / "tls")
    trust = ssl.create_default_context(cafile=str(ca))
    env = {"ROUNDS_TLS_CERTFILE": str(cert), "ROUNDS_TLS_KEYFILE": str(key)}
    with rounds_serve(tmp_path / "server", env=env, scheme="https", ssl_context=trust) as server:
        # Chromium here does not trust the ward CA (that is a device setting), so skip the check.
        context = chromium.new_context(viewport=PHONE, ignore_https_errors=True)
        context.add_init_script(CSP_RECORDER)
        log = RequestLog(server_netloc=urlsplit(server.base_url).netloc)
        log.attach(context)
        try:
            page = context.new_page()
            log.attach_page(context, page)
            open_app(page, server)
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            assert csp_violations(page) == []
            assert server.url("/ws").replace("https", "wss", 1) in log.websockets
            assert log.foreign() == {"playwright": [], "route": [], "cdp": [], "websocket": []}
        finally:
            context.close()
