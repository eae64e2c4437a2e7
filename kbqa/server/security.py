"""The guard in front of every request (per-client rate limit, body size) and the API key check.

``Guard`` is a plain ASGI middleware (no BaseHTTPMiddleware): it adds no task per request and
refuses before any body is read. The key is a FastAPI dependency (:func:`require_key`) built from
``fastapi.security`` schemes, so the OpenAPI schema documents it on exactly the routes that need it.
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


KEY_MESSAGE = "missing or wrong API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"


def require_key(expected: str) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets a request through only with the key, sent as
    ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` and compared in constant time.

    Its two ``fastapi.security`` schemes (``bearer``, ``apiKey``) are what FastAPI writes into the
    OpenAPI schema of every route that depends on it."""
    from fastapi import Depends, HTTPException
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

    bearer = HTTPBearer(auto_error=False, scheme_name="bearer")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey")
    want = expected.encode("utf-8")

    def matches(credentials: HTTPAuthorizationCredentials | None, api_key: str | None) -> bool:
        sent = (credentials.credentials if credentials else None, api_key)
        given = [c.strip().encode("utf-8") for c in sent if c and c.strip()]
        ok = False
        for g in given:  # check every candidate so timing does not reveal which header was tried
            ok |= hmac.compare_digest(g, want)
        return ok

    async def check_key(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        api_key: str | None = Depends(header),
    ) -> None:
        if not matches(credentials, api_key):
            raise HTTPException(401, detail=KEY_MESSAGE, headers={"WWW-Authenticate": "Bearer"})

    async def request_has_key(request: Any) -> bool:
        """For a request refused before the dependency ran (a body that is not JSON)."""
        return matches(await bearer(request), await header(request))

    check_key.request_has_key = request_has_key  # type: ignore[attr-defined]
    return check_key


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
    """ASGI middleware: rate limit and body size; each refusal a short JSON error."""

    def __init__(self, app: Any, *, max_body_bytes: int, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

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
