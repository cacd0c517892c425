"""Access token for the dashboard (required when it is bound beyond the loopback interface).

A request carries the token as `Authorization: Bearer <token>`, the `tradestream_token`
cookie, or `?token=<token>` (which also sets the cookie, so the page's own requests and
its event stream carry it). `/healthz` is open. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "tradestream_token"
OPEN_PATHS = frozenset({"/healthz"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class TokenMiddleware:
    """ASGI middleware: 401 unless the request carries the token."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        from_cookie = cookie[COOKIE].value if COOKIE in cookie else None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        from_query = (query.get("token") or [None])[0]
        if self._matches(bearer) or self._matches(from_cookie):
            await self.app(scope, receive, send)
            return
        if self._matches(from_query):
            set_cookie = f"{COOKIE}={from_query}; Path=/; HttpOnly; SameSite=Strict".encode(
                "latin-1"
            )

            async def send_with_cookie(message) -> None:
                if message["type"] == "http.response.start":
                    message = {
                        **message,
                        "headers": [*message["headers"], (b"set-cookie", set_cookie)],
                    }
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        body = b"401 Unauthorized: this dashboard needs its token (open it with ?token=...)\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
