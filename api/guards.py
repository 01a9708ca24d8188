"""Request guards that sit in front of every route: body size, CORS for the codec, write rate."""

from __future__ import annotations

import json
import re
import threading
import time

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


async def _reject(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
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
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _reject(send, 413, too_large)
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
                        await _reject(send, 413, too_large)
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
