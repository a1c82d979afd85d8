"""Draw Rounds' icons (a white check mark on a blue tile) as PNGs, with the standard library only.

Run `python -m app.web.make_icons` after changing the design; the PNGs in assets/ are committed.
Output is deterministic (no timestamps in the files), so a re-run changes nothing unless the
drawing changed.
"""

import itertools
import math
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

RGB = tuple[int, int, int]

# Same folder as app.web.server.ASSETS_DIR; not imported from there to keep this script light.
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"

TILE: RGB = (0x3B, 0x6E, 0x8F)  # steel blue, legible on light and dark launchers
MARK: RGB = (0xFF, 0xFF, 0xFF)

# The check mark in unit coordinates (y down), and its stroke width.
CHECK: tuple[tuple[float, float], ...] = ((0.295, 0.525), (0.440, 0.665), (0.715, 0.375))
STROKE = 0.09

# Maskable icons: launchers may crop to any shape containing the centred circle of radius 0.4
# (the W3C "safe zone"). The mark reaches 0.3 from the centre: inside it with room to spare.
SAFE_RADIUS = 0.4
MASKABLE_SCALE = 1.0


@dataclass(frozen=True)
class IconSpec:
    """One PNG to draw: size in pixels and whether the tile fills the square."""

    path: str
    size: int
    full_bleed: bool  # opaque square (maskable, Apple touch) rather than a rounded tile
    mark_scale: float = 1.0


ICONS: tuple[IconSpec, ...] = (
    IconSpec("icons/icon-192.png", 192, full_bleed=False),
    IconSpec("icons/icon-512.png", 512, full_bleed=False),
    IconSpec("icons/icon-maskable-192.png", 192, full_bleed=True, mark_scale=MASKABLE_SCALE),
    IconSpec("icons/icon-maskable-512.png", 512, full_bleed=True, mark_scale=MASKABLE_SCALE),
    # iOS rounds the corners itself and shows transparency as black: opaque square.
    IconSpec("icons/apple-touch-icon-192.png", 192, full_bleed=True),
    IconSpec("icons/loading-animation.png", 256, full_bleed=False),
    IconSpec("favicon.png", 64, full_bleed=False),
)


def _segment_distance(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _rounded_square_distance(px: float, py: float, half: float, radius: float) -> float:
    # Signed distance to a square centred on (0.5, 0.5): negative inside.
    qx = abs(px - 0.5) - half + radius
    qy = abs(py - 0.5) - half + radius
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def _coverage(distance_px: float) -> float:
    # One-pixel anti-aliasing ramp centred on the edge.
    return max(0.0, min(1.0, 0.5 - distance_px))


def draw(spec: IconSpec) -> bytes:
    """Render one icon as 8-bit RGBA rows (no filter bytes)."""
    size = spec.size
    points = [
        (0.5 + (x - 0.5) * spec.mark_scale, 0.5 + (y - 0.5) * spec.mark_scale) for x, y in CHECK
    ]
    half_stroke = STROKE * spec.mark_scale / 2

    def tile(x: float, y: float) -> float:
        if spec.full_bleed:
            return 1.0
        return _coverage(_rounded_square_distance(x, y, half=0.46, radius=0.2) * size)

    out = bytearray()
    for row in range(size):
        y = (row + 0.5) / size
        for column in range(size):
            x = (column + 0.5) / size
            alpha = tile(x, y)
            distance = min(_segment_distance(x, y, a, b) for a, b in itertools.pairwise(points))
            mark = _coverage((distance - half_stroke) * size)
            colour = [round(t + (m - t) * mark) for t, m in zip(TILE, MARK, strict=True)]
            out += bytes((*colour, round(255 * alpha)))
    return bytes(out)


def png(rgba: bytes, size: int) -> bytes:
    """Encode square RGBA pixels as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    stride = size * 4
    raw = b"".join(b"\x00" + rgba[row * stride : (row + 1) * stride] for row in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def render_all() -> dict[str, bytes]:
    """Every icon's PNG bytes, keyed by its path relative to assets/."""
    return {spec.path: png(draw(spec), spec.size) for spec in ICONS}


def main(out_dir: Path = ASSETS_DIR) -> None:
    """Write every icon under out_dir."""
    for relative, data in render_all().items():
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{target} ({len(data)} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ASSETS_DIR)
