"""What guards every request: the Host header, the bearer token, capped bodies, strict headers.

- Host: a server bound to the loopback answers only requests addressed to ``127.0.0.1``,
  ``localhost`` or ``[::1]``, so a web page elsewhere cannot reach it by DNS rebinding.
- Token (``--token``): every request carries ``Authorization: Bearer TOKEN`` or the cookie the
  page gets by opening ``/?token=TOKEN`` once (then redirected to ``/``, the token gone from the
  address bar). Compared in constant time.
- Bodies are read with a byte cap; a declared length over it is refused before reading.
- Responses forbid loading anything from another origin (Content-Security-Policy), so the page
  cannot make a request that leaves the machine even by mistake.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaekit.web.errors import PayloadTooLarge, RequestError

COOKIE = "vaekit_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
NEEDS_TOKEN = """<!doctype html><meta charset="utf-8"><title>vaekit serve: token needed</title>
<p>This vaekit server needs its token. Open the address that <code>vaekit serve</code> printed,
ending in <code>/?token=...</code>, once; the page then remembers it for this browser session.</p>"""


def host_name(host_header: str) -> str:
    """``127.0.0.1:8000`` -> ``127.0.0.1``; ``[::1]:8000`` -> ``::1``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class Guard:
    """ASGI middleware: Host check, token check and security headers on every HTTP response."""

    def __init__(self, app: ASGIApp, token: str | None, hosts: Iterable[str] | None):
        self.app = app
        self.token = token or None
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.hosts is not None and host_name(headers.get("host", "")) not in self.hosts:
            await _error(400, "this server answers only requests to its own address (Host header refused)")(scope, receive, send)
            return
        if self.token is not None:
            response = self._check_token(Request(scope))
            if response is not None:
                await _with_headers(response)(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _check_token(self, request: Request) -> Response | None:
        """None when the request may pass; else the response to send."""
        assert self.token is not None
        given = request.query_params.get("token")
        if given is not None and request.method == "GET" and request.url.path == "/":
            if not _same(given, self.token):
                return HTMLResponse(NEEDS_TOKEN, status_code=401)
            ok = RedirectResponse("/", status_code=303)
            ok.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return ok
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth[:7].lower() == "bearer " else None
        if (bearer is not None and _same(bearer, self.token)) or _same(request.cookies.get(COOKIE), self.token):
            return None
        if request.url.path.startswith("/api/"):
            return _error(401, "this server needs its token: open the address vaekit serve printed (/?token=...)")
        return HTMLResponse(NEEDS_TOKEN, status_code=401)


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _secure(headers: MutableHeaders) -> None:
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")


def _with_headers(response: Response) -> Response:
    _secure(response.headers)
    return response


def _error(status: int, message: str) -> Response:
    return _with_headers(JSONResponse({"detail": message}, status_code=status))


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise RequestError("the Content-Length header is not a number") from None
        if size > cap:
            raise PayloadTooLarge(f"the request body is {size:,} bytes, over the cap of {cap:,}; send less")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            raise PayloadTooLarge(f"the request body is over the cap of {cap:,} bytes; send less")
        chunks.append(chunk)
    return b"".join(chunks)
