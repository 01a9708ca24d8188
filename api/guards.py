"""Request guards that sit in front of every route: body size, CORS for the codec, write rate."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


async def _reject(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"


async def _reject_page(scope: Scope, send: Send, limit: int) -> None:
    """The staff app's answer to a body over the limit: a page in Chinese that sends the person back to
    their form (the browser keeps what was typed there), never the API's JSON."""
    referer = dict(scope["headers"]).get(b"referer", b"").decode("latin-1")
    path = urlsplit(referer).path if referer else ""
    back = html.escape(path if path.startswith("/ui") and not path.startswith("//") else "/ui", quote=True)
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>提交的内容太大</title>'
            f'<link rel="stylesheet" href="/ui/static/app.css"></head><body><main><section class="card narrow">'
            f'<h1>提交的内容太大</h1><p class="alert" role="alert">这一页最多可提交 {_size(limit)}。'
            f'请返回上一页：已填写的内容仍在那里，请缩短文字或选择较小的文件后再提交。</p>'
            f'<p><a class="button primary" href="{back}">返回上一页</a></p></section></main></body></html>').encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a request body over the limit, declared or streamed; larger limits for named paths.

    A streamed body that grows past the limit is answered at once; the app
    then sees the client gone and whatever it would answer is dropped.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int]) -> None:
        """``larger``: a path, or a regular expression starting with ``^``, and its limit."""
        self.app, self.limit = app, limit
        self.larger = {k: v for k, v in larger.items() if not k.startswith("^")}
        self.patterns = [(re.compile(k), v) for k, v in larger.items() if k.startswith("^")]

    def limit_for(self, path: str) -> int:
        if path in self.larger:
            return self.larger[path]
        return next((v for pattern, v in self.patterns if pattern.fullmatch(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        too_large = f"request body: more than the {limit} bytes allowed here"
        page = scope["path"].startswith("/ui")

        async def reject() -> None:
            await (_reject_page(scope, send, limit) if page else _reject(send, 413, too_large))

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await reject()
        seen, started, rejected = 0, False, False

        async def counted() -> dict:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    rejected = True
                    if not started:
                        await reject()
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: dict) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)


class CodecCORS:
    """CORS for ``/codec`` only, for the Temporal UI's origins; the rest of the API is same-origin."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app, allow_origins=origins, allow_methods=["POST"], allow_credentials=True,
            allow_headers=["Authorization", "Content-Type", "X-Namespace"], max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/codec"):
            return await self.cors(scope, receive, send)
        return await self.app(scope, receive, send)


class WriteRate:
    """A token bucket per staff member: ``per_minute`` writes, refilled evenly (per API process)."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, staff_id: str, now: float | None = None) -> float:
        """0 when the write may go ahead, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(staff_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens >= 1:
                self._buckets[staff_id] = (tokens - 1, now)
                return 0.0
            self._buckets[staff_id] = (tokens, now)
            return (1 - tokens) / self.refill
