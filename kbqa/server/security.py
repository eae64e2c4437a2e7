"""The guard in front of every request: per-client rate limit and API key.

A plain ASGI middleware (no BaseHTTPMiddleware): it adds no task per request and refuses
before any body is read.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

OPEN_PATHS = ("/health",)  # never need the key and are never rate limited
PAGE_PATHS = ("/", "/favicon.ico")  # the evidence page itself: it asks for the key
PAGE_PREFIX = "/static/"
DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


def key_matches(expected: str, headers: dict[bytes, bytes]) -> bool:
    """``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in constant time."""
    want = expected.encode("utf-8")
    given = []
    auth = headers.get(b"authorization", b"")
    scheme, _, value = auth.partition(b" ")
    if scheme.lower() == b"bearer" and value.strip():
        given.append(value.strip())
    if headers.get(b"x-api-key"):
        given.append(headers[b"x-api-key"].strip())
    ok = False
    for g in given:  # check every candidate so timing does not reveal which header was tried
        ok |= hmac.compare_digest(g, want)
    return ok


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> float:
        """0.0 when the request may go ahead, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._forget_idle(now)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        full = self.burst / self.rate  # a bucket idle this long is full again: no need to keep it
        for client, (_, last) in list(self._buckets.items()):
            if now - last >= full:
                del self._buckets[client]
        if len(self._buckets) >= self.max_clients:  # still full: drop the oldest half
            for client, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: self.max_clients // 2]:
                del self._buckets[client]


class Guard:
    """ASGI middleware: rate limit, API key, body size; each refusal a short JSON error."""

    def __init__(
        self,
        app: Any,
        *,
        api_key: str | None,
        max_body_bytes: int,
        limiter: RateLimiter,
        public_docs: bool = False,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.public_docs = public_docs

    def _needs_key(self, path: str) -> bool:
        if self.api_key is None or path in OPEN_PATHS or path in PAGE_PATHS or path.startswith(PAGE_PREFIX):
            return False
        return not (self.public_docs and path in DOC_PATHS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if path not in OPEN_PATHS:
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.limiter.allow(str(client))
            if wait:
                retry = str(max(1, round(wait + 0.5)))
                await _error(
                    send, 429, "too many requests from this client; slow down and retry", {"retry-after": retry}
                )
                return
        if self._needs_key(path) and not key_matches(self.api_key or "", headers):
            await _error(
                send,
                401,
                "missing or wrong API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                {"www-authenticate": "Bearer"},
            )
            return
        length = headers.get(b"content-length", b"0").strip()
        if not length.isdigit():
            await _error(send, 400, "the Content-Length header is not a number")
            return
        if int(length) > self.max_body_bytes:
            await _error(send, 413, self._too_large)
            return
        received = 0

        async def counting_receive() -> dict[str, Any]:  # bodies streamed without a Content-Length
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                from starlette.exceptions import HTTPException

                raise HTTPException(413, detail=self._too_large)  # FastAPI answers it as JSON
            return message

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":  # answers may quote patient details: never cache them
                message = {**message, "headers": [*message.get("headers", []), *_COMMON_HEADERS]}
            await send(message)

        await self.app(scope, counting_receive, send_with_headers)

    @property
    def _too_large(self) -> str:
        return f"the request body is over the limit of {self.max_body_bytes} bytes"


_COMMON_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


async def _error(send: Send, status: int, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()] + _COMMON_HEADERS
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
