"""The production nginx site, deploy/nginx/rounds.conf, run on loopback as shipped: HTTPS with
the ward certificate from `rounds tls`, the sticky cookie (Secure) on pages and on the
WebSocket handshake, HSTS, plain HTTP sent to HTTPS, and a technician's routine check in
Chromium over HTTP/2 and a secure WebSocket. Two real `rounds serve` behind it, on one SQLite
file (the HTTPS path is what is tested here; tests/scale/test_hospital.py does PostgreSQL)."""

import asyncio
import http.client
import ssl
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets

from app.web.tls import make_ward_certificates
from bench.speed_server import RoundsTab, chromium_options
from tests.browser.technician_ward import PASSWORD, prepare_ward
from tests.scale.cluster import (
    NGINX,
    nginx_check,
    nginx_running,
    prepare_conf,
    render_https_conf,
    render_loopback_conf,
)
from tests.web.live_server import LiveServer, free_port, rounds_serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not NGINX.exists(), reason=f"needs nginx ({NGINX} is missing: apt-get install nginx)"
    ),
]


@dataclass(frozen=True)
class Site:
    https_port: int
    http_port: int
    ca: ssl.SSLContext
    nodes: list[LiveServer]

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("https-site")
    ca_cert, _, _ = make_ward_certificates(["127.0.0.1"], folder / "tls")
    ca = ssl.create_default_context(cafile=str(ca_cert))
    https_port, http_port = free_port(), free_port()
    ward = prepare_ward(folder / "ward")
    with (
        rounds_serve(folder / "node-1", env=ward.env()) as first,
        rounds_serve(folder / "node-2", env=ward.env()) as second,
    ):
        nodes = [f"{node.host}:{node.port}" for node in (first, second)]
        conf = render_https_conf(https_port, http_port, nodes, folder / "tls")
        health = f"https://127.0.0.1:{https_port}/healthz"
        with nginx_running(folder / "nginx", conf, health, ca):
            yield Site(https_port, http_port, ca, [first, second])


def cookie_of(headers: list[tuple[str, str]]) -> str:
    values = [value for name, value in headers if name.lower() == "set-cookie"]
    assert len(values) == 1, headers
    return values[0]


def test_both_templates_pass_nginx_t(tmp_path: Path) -> None:
    loopback = render_loopback_conf(8080, ["127.0.0.1:8551", "127.0.0.1:8552"])
    checked = nginx_check(prepare_conf(tmp_path / "loopback", loopback))
    assert checked.returncode == 0, checked.stderr
    make_ward_certificates(["rounds.ward4.local"], tmp_path / "tls")
    https = render_https_conf(8443, 8080, ["127.0.0.1:8551", "127.0.0.1:8552"], tmp_path / "tls")
    checked = nginx_check(prepare_conf(tmp_path / "https", https))
    assert checked.returncode == 0, checked.stderr


def test_the_app_is_served_over_https_with_a_secure_sticky_cookie(site: Site) -> None:
    with urllib.request.urlopen(site.origin + "/", context=site.ca, timeout=10) as response:
        assert response.status == 200
        assert response.read(15).lower() == b"<!doctype html>"
        headers = response.getheaders()
        named = response.headers  # case-insensitive
    cookie = cookie_of(headers)
    assert cookie.startswith(("rounds_node=1;", "rounds_node=2;")), cookie
    for attribute in ("Path=/", "HttpOnly", "SameSite=Lax", "Secure"):
        assert attribute in cookie, cookie
    assert named["Strict-Transport-Security"].startswith("max-age=")
    # The app's own headers pass through nginx untouched.
    assert "frame-ancestors 'none'" in named["Content-Security-Policy"]


def test_the_websocket_goes_to_the_cookies_process_and_renews_the_cookie(site: Site) -> None:
    async def handshake(node: str) -> list[tuple[str, str]]:
        async with websockets.connect(
            f"wss://127.0.0.1:{site.https_port}/ws",
            ssl=site.ca,
            origin=site.origin,
            additional_headers={"Cookie": f"rounds_node={node}"},
        ) as socket:
            return list(socket.response.headers.raw_items())

    for node in ("1", "2"):
        # In a thread of its own: a browser test earlier in the same pytest process may have
        # left an event loop running in this one (Playwright's sync API).
        with ThreadPoolExecutor(1) as pool:
            cookie = cookie_of(pool.submit(asyncio.run, handshake(node)).result())
        assert cookie.startswith(f"rounds_node={node};"), (node, cookie)


def test_plain_http_is_sent_to_https(site: Site) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
    connection.request("GET", "/rounds")
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://127.0.0.1/rounds"


@pytest.mark.browser
def test_a_routine_check_through_the_https_site_in_chromium(site: Site) -> None:
    def tap() -> tuple[str, float, dict]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as driver:
            browser = driver.chromium.launch(**chromium_options())
            try:
                # The ward CA is not in this Chromium's trust store; urllib checks the chain.
                context = browser.new_context(
                    viewport={"width": 1024, "height": 768}, ignore_https_errors=True
                )
                tab = RoundsTab.new(context)
                tab.open(site.origin + "/")
                protocol = tab.page.evaluate(
                    "performance.getEntriesByType('navigation')[0].nextHopProtocol"
                )
                tab.sign_in("tech", PASSWORD)
                saved_in = tab.tap_routine("Sam Okafor")
                cookies = {cookie["name"]: cookie for cookie in context.cookies()}
            finally:
                browser.close()
        return protocol, saved_in, cookies

    # In a thread of its own: the browser tests' session-wide Playwright may already hold
    # this thread's event loop, and Playwright's sync API refuses to start inside one.
    with ThreadPoolExecutor(1) as pool:
        protocol, saved_in, cookies = pool.submit(tap).result()
    assert protocol == "h2"
    assert saved_in < 5_000  # "Saved" came back over the secure WebSocket
    assert cookies["rounds_node"]["secure"] and cookies["rounds_node"]["httpOnly"]
