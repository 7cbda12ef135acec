"""Who may talk to the server, and how much they may send.

Both checks are plain ASGI middleware so they act *before* a body is read: an
unauthenticated or oversized upload is refused without buffering it.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})  # liveness probes need no token; it reveals nothing private


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; everything else (0.0.0.0 included) is exposed."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so it counts as exposed


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve off loopback without a token (ValueError with what to do)."""
    if not is_loopback(host) and not token:
        raise ValueError(
            f"--host {host} is not a loopback address, so anyone on the network could use the server: "
            "set a token with --token or the CAFETALK_TOKEN environment variable "
            "(clients send 'Authorization: Bearer <token>'), or bind 127.0.0.1")


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8"))


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


class BearerTokenMiddleware:
    """401 for any request (except :data:`OPEN_PATHS`) without the right bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if not token_matches(header, self.token):
            detail = ("Authorization: missing bearer token" if header is None
                      else "Authorization: wrong or malformed bearer token")
            await _send_json(send, 401, {"detail": detail, "field": "Authorization"},
                             [(b"www-authenticate", b'Bearer realm="cafetalk"')])
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes``: by Content-Length up front, else while streaming.

    Counting while streaming covers chunked uploads that announce no length; the limit error
    is raised from ``receive`` inside the route, where FastAPI turns it into a 413 response.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body: larger than this server accepts ({self.max_bytes / 1e6:.1f} MB, --max-upload-mb)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"detail": "Content-Length: not a number", "field": "Content-Length"})
                    return
                if declared > self.max_bytes:
                    await _send_json(send, 413, {"detail": self._message(), "field": "audio"})
                    return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await _send_json(send, 413, {"detail": self._message(), "field": "audio"})
