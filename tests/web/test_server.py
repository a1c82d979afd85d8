"""The serving shell over HTTP, without a browser: health, headers, caching, gzip, sockets."""

import base64
import gc
import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import flet as ft
import flet_web
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.web import server
from app.web.compressed import CompressedStaticFiles
from app.web.server import ASSETS_DIR, content_security_policy, create_web_app, is_static_asset

FLET_WEB_DIR = Path(flet_web.get_package_web_dir())


async def _blank(page: ft.Page) -> None:
    page.add(ft.Text("test"))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # One app per module: Flet's session manager is process-global.
    with TestClient(create_web_app(Settings(), main=_blank)) as test_client:
        yield test_client


def test_healthz_says_ok_and_nothing_else(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_assets_dir_is_the_repository_assets_folder() -> None:
    assert Path(__file__).resolve().parents[2] / "assets" == ASSETS_DIR
    assert (ASSETS_DIR / "index.html").is_file()


@pytest.mark.parametrize("path", ["/", "/patients/12", "/ward/3/rounds"])
def test_pages_are_rounds_index_and_never_stored(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "<title>Rounds</title>" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_security_headers_on_the_page(client: TestClient) -> None:
    headers = client.get("/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src


def test_csp_allows_exactly_the_page_inline_scripts(client: TestClient) -> None:
    response = client.get("/")
    html = re.sub(r"<!--.*?-->", "", response.text, flags=re.DOTALL)
    bodies = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    # Rounds' URL guard, Flet's WebKit reload, Flet's config and Flet's injected app config.
    assert len(bodies) == 4
    csp = response.headers["content-security-policy"]
    for body in bodies:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert csp.count("'sha256-") == 4


def test_content_security_policy_hashes_are_csp_format() -> None:
    csp = content_security_policy([b"alert(1)"])
    # Known value: CSP hash of "alert(1)".
    assert "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='" in csp


@pytest.mark.parametrize(
    ("path", "static"),
    [
        ("/main.dart.js", True),
        ("/canvaskit/skwasm.wasm", True),
        ("/icons/icon-192.png", True),
        ("/manifest.json", True),
        ("/", False),
        ("/index.html", False),
        ("/healthz", False),
        ("/patients/7", False),
    ],
)
def test_is_static_asset(path: str, static: bool) -> None:
    assert is_static_asset(path) is static


def test_static_files_are_revalidated_not_stored(client: TestClient) -> None:
    first = client.get("/flutter_bootstrap.js")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    again = client.get("/flutter_bootstrap.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_missing_asset_is_a_404_and_not_stored(client: TestClient) -> None:
    response = client.get("/no-such-file.js")
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"


def test_main_dart_js_is_gzipped_and_intact(client: TestClient) -> None:
    raw = (FLET_WEB_DIR / "main.dart.js").read_bytes()
    with client.stream("GET", "/main.dart.js", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        wire = b"".join(response.iter_raw())
    assert gzip.decompress(wire) == raw
    assert len(wire) < len(raw) * 0.4


def test_page_is_not_gzipped_without_accept_encoding(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers
    assert "<title>Rounds</title>" in response.text


def test_api_docs_are_not_served(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 404
    assert "swagger" not in client.get("/docs").text.lower()
    assert "redoc" not in client.get("/redoc").text.lower()


def test_websocket_from_another_origin_is_refused(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers={"Origin": "http://evil.example"}),
    ):
        pass
    assert refused.value.code == 1008


def test_websocket_from_the_same_origin_is_accepted(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={"Origin": "http://testserver"}) as socket:
        assert socket is not None


def test_static_files_are_compressed_once_at_the_best_level(client: TestClient) -> None:
    """Kept compressed in memory: a whole body with its length (not a stream compressed for
    each browser), at level 9 (gzip's header says so), the same bytes every time."""
    raw = (FLET_WEB_DIR / "main.dart.js").read_bytes()
    first = client.get("/main.dart.js", headers={"Accept-Encoding": "gzip"})
    with client.stream("GET", "/main.dart.js", headers={"Accept-Encoding": "gzip"}) as again:
        wire = b"".join(again.iter_raw())
        assert again.headers["content-length"] == str(len(wire))
        assert again.headers["cache-control"] == "no-cache"
        assert again.headers["etag"] == first.headers["etag"]
        assert "Accept-Encoding" in again.headers["vary"]
    assert wire[8] == 2  # XFL: the slowest, smallest compression
    assert gzip.decompress(wire) == raw
    assert first.content == raw


def test_a_file_is_compressed_once_and_a_missing_one_is_not_kept() -> None:
    asked: list[str] = []

    async def files(scope, receive, send) -> None:
        asked.append(scope["path"])
        found = scope["path"] == "/big.js"
        await send({"type": "http.response.start", "status": 200 if found else 404, "headers": []})
        await send({"type": "http.response.body", "body": b"let x = 1;\n" * 5000 if found else b""})

    middleware = CompressedStaticFiles(files, is_static=lambda path: True)
    test_client = TestClient(middleware)  # no lifespan: the app above answers requests only
    for _ in range(3):
        big = test_client.get("/big.js", headers={"Accept-Encoding": "gzip"})
        assert big.headers["content-encoding"] == "gzip"
        assert big.content == b"let x = 1;\n" * 5000
        assert test_client.get("/missing.js").status_code == 404
    assert asked.count("/big.js") == 1
    assert asked.count("/missing.js") == 6  # looked for, then answered by the app, each time
    assert "/missing.js" not in middleware._files


def test_serving_keeps_little_per_session_and_out_of_collections(monkeypatch, tmp_path) -> None:
    """Everything loaded before uvicorn starts is frozen, so full collections while sessions
    are open walk only what the sessions made; the session sockets are not compressed."""
    frozen_at_start: list[int] = []
    options: dict = {}

    def run(app, **given) -> None:
        frozen_at_start.append(gc.get_freeze_count())
        options.update(given)

    monkeypatch.setattr(server.uvicorn, "run", run)
    try:
        server.serve(
            Settings(
                database_url=f"sqlite:///{tmp_path / 'rounds.db'}",
                secret_file=tmp_path / "secret.key",
            )
        )
    finally:
        gc.unfreeze()
    assert frozen_at_start and frozen_at_start[0] > 10_000
    # and the session sockets keep no compression state (see serve)
    assert options["ws_per_message_deflate"] is False
