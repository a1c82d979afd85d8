"""The client's static files, gzipped once and then served from memory.

Every first load of a browser fetches about 20 MB of Flutter client (5.4 MB gzipped). Starlette's
GZipMiddleware compresses a file afresh for every browser, and a file response comes in 64 KiB
chunks, each compressed on the event loop that every session shares: a tablet's first load held
the other sessions' taps for about 0.4 s, and a ward's tablets reconnecting together after a
restart held them for seconds. The files only change when Flet is upgraded, which needs a
restart, so each is compressed once (at the best level, in a worker thread) and kept.

What is cached is the response the inner app gave (status 200, with the headers the header
middleware set), with its body gzipped. Anything else goes through unchanged: pages, requests
without gzip, conditional (If-None-Match) and Range requests, HEAD, and files that compress by
less than a tenth (fonts, images, already compressed).
"""

import asyncio
import gzip
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Files that shrink less than this are not worth decompressing in the browser.
WORTH_IT = 0.9


@dataclass(frozen=True)
class Compressed:
    headers: list[tuple[bytes, bytes]]
    body: bytes


class CompressedStaticFiles:
    """Pure ASGI middleware: the static files of `is_static`, gzipped once per process."""

    def __init__(self, app: ASGIApp, is_static: Callable[[str], bool]) -> None:
        self.app = app
        self.is_static = is_static
        # Per path: the gzipped response, or None when it is served as it is. A task, so
        # browsers asking for a file together wait for the one compression of it.
        self._files: dict[str, asyncio.Task[Compressed | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        task = self._files.get(path)
        if task is None:
            task = self._files[path] = asyncio.ensure_future(self._compress(scope, receive))
        try:
            found = await asyncio.shield(task)
        except Exception:
            self._files.pop(path, None)  # asked again next time
            raise
        if found is None:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": found.headers})
        await send({"type": "http.response.body", "body": found.body, "more_body": False})

    def _cacheable(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        if not self.is_static(scope["path"]):
            return False
        headers = Headers(scope=scope)
        return (
            "gzip" in headers.get("accept-encoding", "")
            and "if-none-match" not in headers
            and "range" not in headers
        )

    async def _compress(self, scope: Scope, receive: Receive) -> Compressed | None:
        """The inner app's answer for the path, gzipped; None unless it is a 200 that
        compresses well."""
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        # Asked as a plain GET, the same for every browser.
        plain = {
            **scope,
            "headers": [(name, value) for name, value in scope["headers"] if name == b"host"],
        }
        await self.app(plain, receive, keep)
        if start.get("status") != 200:
            # Not kept: any path with a suffix lands here, and a missing file stays missing.
            self._files.pop(scope["path"], None)
            return None
        body = b"".join(chunks)
        packed = await asyncio.to_thread(gzip.compress, body, 9, mtime=0)
        if len(packed) >= len(body) * WORTH_IT:
            return None
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        headers["content-encoding"] = "gzip"
        headers["content-length"] = str(len(packed))
        headers.add_vary_header("Accept-Encoding")
        return Compressed(headers.raw, packed)
