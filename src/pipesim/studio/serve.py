"""Serving the studio: the access token, the saved what-ifs' reports, and the web server.

:func:`asgi_app` wraps the Shiny app in a Starlette application that adds one route,
``/whatif/<name>/report.html`` (the full report of a saved what-if, found through the catalogue,
so no path a browser sends is ever opened), and, when a token is set, :class:`TokenGate`: every
request and WebSocket must carry it (``?token=`` once, which sets a cookie, or the cookie, or an
``X-Pipesim-Token`` header), else it gets 403. :func:`serve` runs it with uvicorn. Loopback is
the default; :func:`check_host` refuses another host without a token.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from pipesim.report import REPORT_FILE
from pipesim.runs.discussion import find_what_if
from pipesim.studio.app import Config, make_app
from pipesim.studio.live import References

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "pipesim_studio_token"
"""The cookie that carries the token after the first visit."""

HEADER = b"x-pipesim-token"
"""A header that carries the token (for scripts)."""


class HostError(ValueError):
    """A host the studio must not listen on as asked (another host without a token)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except (OSError, ValueError):
            return False


def new_token() -> str:
    """A fresh access token (32 random bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_host(host: str, token: str | None) -> None:
    """Refuse a host other than loopback without a token (:class:`HostError` says what to do)."""
    if not is_loopback(host) and not token:
        raise HostError(
            f"--host {host} serves the studio beyond this machine: it needs an access token "
            "(give --token T, or --token generate to have one made and printed)"
        )


class TokenGate:
    """ASGI middleware: 403 unless the request carries the studio's token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _given(self, scope: Scope) -> tuple[str | None, bool]:
        """The token the request carries, and whether it came in the query string."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        for name, value in scope.get("headers", []):
            if name == HEADER:
                return value.decode("latin-1"), False
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header is no token
                    continue
                if COOKIE in cookie:
                    return cookie[COOKIE].value, False
        return None, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with the token, answer 403 without it."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given, in_query = self._given(scope)
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = PlainTextResponse(
                "403: this pipesim studio needs its access token (open the address printed "
                "when it started, with ?token=...)",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        if not in_query or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append(
                    (
                        b"set-cookie",
                        f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode(),
                    )
                )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_cookie)


def asgi_app(config: Config, token: str | None = None) -> tuple[ASGIApp, References]:
    """The studio as an ASGI application (and its shared reference runs, to close at exit)."""
    references = References(config.settings)
    shiny_app = make_app(config, references)

    async def report(request: Request) -> Response:
        name = request.path_params["name"]
        saved = find_what_if(name, config.catalogue)
        if saved is None or not saved.folder:
            return PlainTextResponse(f"no saved what-if named {name!r} with a run", 404)
        path = Path(saved.folder).resolve() / REPORT_FILE
        if not path.is_relative_to(config.catalogue.parent.resolve()) or not path.is_file():
            return PlainTextResponse(f"the report of {name!r} is not written yet", 404)
        return FileResponse(path, media_type="text/html")

    app: ASGIApp = Starlette(
        routes=[
            Route("/whatif/{name}/report.html", report),
            Mount("/", app=shiny_app),
        ]
    )
    if token:
        app = TokenGate(app, token)
    return app, references


def serve(
    config: Config, host: str, port: int, token: str | None, announce: Callable[[str], None]
) -> None:
    """Run the studio until Ctrl-C; ``announce`` gets the address to open."""
    check_host(host, token)
    app, references = asgi_app(config, token)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    announce(address)
    try:
        server.run()
    finally:
        references.close()
