"""Websockets are same-origin only, port included.

Channels' ``AllowedHostsOriginValidator`` compares the Origin's host with ALLOWED_HOSTS and
ignores its port, so a page served by any other program on the same host
(``http://127.0.0.1:9999``) could open the stream with the person's cookies (cookies are
not kept apart by port). Here the Origin must name the very host and port the socket was
opened on (its ``Host`` header), or be listed in ``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def same_origin(scope: dict[str, Any]) -> bool:
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    try:
        parsed, served = urlsplit(origin), urlsplit(f"//{host}")
        origin_port = parsed.port or DEFAULT_PORTS.get(parsed.scheme)
        # A Host without a port (behind a TLS proxy) means the default port of the page's scheme.
        served_port = served.port or DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:  # a malformed port
        return False
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not served.hostname:
        return False
    return (parsed.hostname.lower(), origin_port) == (served.hostname.lower(), served_port)


class SameOriginValidator:
    """ASGI middleware: refuse a websocket whose Origin is not the server's own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier.as_asgi()(scope, receive, send)
        return await self.app(scope, receive, send)
