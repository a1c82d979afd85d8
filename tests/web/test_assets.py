"""The files in assets/: offline index.html, PWA manifest and icons."""

import json
import re
import struct
from pathlib import Path

import flet_web
import pytest

from app.web import make_icons
from app.web.server import ASSETS_DIR

FLET_WEB_DIR = Path(flet_web.get_package_web_dir())
TEXT_SUFFIXES = {".html", ".js", ".mjs", ".json", ".css", ".svg", ".txt", ".webmanifest", ".xml"}
# An absolute URL with a scheme, or a protocol-relative one in an attribute or string.
EXTERNAL_URL = re.compile(
    r"""(?:\b(?:https?|wss?|ftp)://|["'(=]\s*//[a-z0-9.-]+\.[a-z]{2,})""", re.I
)


def _text_files() -> list[Path]:
    return sorted(p for p in ASSETS_DIR.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_there_are_text_assets_to_scan() -> None:
    names = {p.name for p in _text_files()}
    assert {"index.html", "manifest.json", "rive_native.js"} <= names


@pytest.mark.parametrize("path", _text_files(), ids=lambda p: str(p.relative_to(ASSETS_DIR)))
def test_no_asset_references_another_server(path: Path) -> None:
    # Comments too: a URL in a comment tends to become a URL in code.
    found = EXTERNAL_URL.findall(path.read_text())
    assert found == [], f"{path} refers outside the Rounds server: {found}"


def test_external_url_pattern_catches_what_it_should() -> None:
    for bad in [
        'src="https://cdn.example.org/x.js"',
        "fetch('//cdn.example.org/a')",
        "wss://x.org",
    ]:
        assert EXTERNAL_URL.search(bad), bad
    for fine in ['src="icons/icon-192.png"', "// a JavaScript comment", 'href="/manifest.json"']:
        assert not EXTERNAL_URL.search(fine), fine


def test_index_keeps_what_flet_needs() -> None:
    ours = (ASSETS_DIR / "index.html").read_text()
    flets = (FLET_WEB_DIR / "index.html").read_text()
    # Flet's server fills these in; without them the client has no config.
    for marker in ["<!-- fletAppConfig -->", '<base href="/">', "var flet = {"]:
        assert marker in ours
    # Every script and link Flet's page loads, ours loads too (catches a flet-web upgrade that
    # adds one: port it into assets/index.html).
    for tag in re.findall(r"<(?:script src|link rel)=[^>]*>", flets):
        if "apple-touch-icon" in tag or "manifest" in tag or 'rel="icon"' in tag:
            continue
        assert tag in ours, f"Flet's index.html has {tag!r}; assets/index.html does not"
    assert "Rounds' copy of flet_web" in ours  # the comment explaining the differences
    assert "<title>Rounds</title>" in ours


def test_every_hard_coded_rive_address_has_a_local_stub() -> None:
    # Flet's client builds the Rive runtime URL from a hard-coded CDN prefix; index.html sends
    # it to assets/offline/<host>/<path>. A flet-web upgrade may change the version in it.
    client = (FLET_WEB_DIR / "main.dart.js").read_text(errors="replace")
    prefixes = set(re.findall(r"https://(cdn\.jsdelivr\.net/npm/@rive-app/[^\"']+/)", client))
    assert prefixes, "Flet's client no longer names a Rive CDN: review assets/offline/"
    for prefix in prefixes:
        for variant in ["wasm", "wasm_compatibility"]:
            stub = ASSETS_DIR / "offline" / prefix / variant / "rive_native.js"
            assert stub.is_file(), f"missing {stub}"
            assert "window.RiveNative" in stub.read_text()


def test_manifest_describes_an_installable_rounds() -> None:
    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text())
    assert manifest["name"] == "Rounds"
    assert manifest["short_name"] == "Rounds"
    assert manifest["description"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    assert manifest["scope"] == "/"
    for key in ["theme_color", "background_color"]:
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", manifest[key])
    icons = {(icon["sizes"], icon.get("purpose", "any")): icon for icon in manifest["icons"]}
    assert set(icons) == {
        ("192x192", "any"),
        ("512x512", "any"),
        ("192x192", "maskable"),
        ("512x512", "maskable"),
    }
    for (sizes, _), icon in icons.items():
        width, height = _png_size(ASSETS_DIR / icon["src"])
        assert f"{width}x{height}" == sizes
        assert icon["type"] == "image/png"


@pytest.mark.parametrize(
    ("relative", "size"),
    [
        ("favicon.png", 64),
        ("icons/icon-192.png", 192),
        ("icons/icon-512.png", 512),
        ("icons/icon-maskable-192.png", 192),
        ("icons/icon-maskable-512.png", 512),
        ("icons/apple-touch-icon-192.png", 192),
        ("icons/loading-animation.png", 256),
    ],
)
def test_every_icon_flet_looks_for_is_ours(relative: str, size: int) -> None:
    assert _png_size(ASSETS_DIR / relative) == (size, size)
    # Not Flet's own icon left in place by mistake.
    assert (ASSETS_DIR / relative).read_bytes() != (FLET_WEB_DIR / relative).read_bytes()


def test_committed_icons_are_what_the_script_draws() -> None:
    for relative, data in make_icons.render_all().items():
        assert (ASSETS_DIR / relative).read_bytes() == data, f"re-run make_icons: {relative}"


def _pixels(spec: make_icons.IconSpec) -> list[tuple[int, int, int, int]]:
    rgba = make_icons.draw(spec)
    return [tuple(rgba[i : i + 4]) for i in range(0, len(rgba), 4)]  # type: ignore[misc]


def test_maskable_icon_keeps_the_mark_inside_the_safe_zone() -> None:
    spec = next(s for s in make_icons.ICONS if s.path == "icons/icon-maskable-192.png")
    size = spec.size
    tile = (*make_icons.TILE, 255)
    pixels = _pixels(spec)
    mark_pixels = 0
    for index, pixel in enumerate(pixels):
        x, y = (index % size + 0.5) / size - 0.5, (index // size + 0.5) / size - 0.5
        if (x * x + y * y) ** 0.5 > make_icons.SAFE_RADIUS:
            assert pixel == tile, f"pixel {index} outside the safe zone is {pixel}"
        elif pixel == (*make_icons.MARK, 255):
            mark_pixels += 1
    assert mark_pixels > size * size * 0.03  # the mark is really there, and legible


def test_any_purpose_icon_is_a_rounded_tile() -> None:
    spec = next(s for s in make_icons.ICONS if s.path == "icons/icon-192.png")
    pixels = _pixels(spec)
    size = spec.size
    assert pixels[0][3] == 0  # transparent corner
    assert pixels[size * (size // 2) + size // 2][3] == 255  # opaque middle
