"""The FastAPI application: the page (``static/``) and its API (``routes/``) over a folder of runs.

    app = create_app("runs/")                      # what ``vaekit serve runs/`` runs under uvicorn
    app = create_app("runs/m1", token="SECRET")    # every request needs the token

A :class:`~vaekit.errors.VaekitError` from any layer becomes a 4xx whose JSON ``detail`` is its
one-line message (the page shows it); anything else is a 500 with the exception's text, and the
server goes on serving.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from vaekit.errors import VaekitError

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("vaekit.web")


def create_app(
    root: str | Path,
    *,
    token: str | None = None,
    hosts: Iterable[str] | None = None,
    max_upload_bytes: int = 5 * 1024 * 1024,
    max_pixels: int = 16_000_000,
    max_points: int = 10_000,
    max_models: int = 4,
):
    """The application serving every run directory under ``root`` (or the run ``root`` itself).

    ``hosts``: the Host header values answered; the default, the loopback names, keeps other web
    pages from reaching a local server by DNS rebinding; ``("*",)`` answers any (a server on a
    shared address, which should have a ``token``). Uploads are capped at ``max_upload_bytes`` and
    ``max_pixels``; the Explore map shows at most ``max_points`` examples.
    """
    try:
        from fastapi import FastAPI, Request
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import FileResponse, JSONResponse
        from fastapi.staticfiles import StaticFiles
    except ImportError:
        raise VaekitError("vaekit serve needs the web extra: pip install 'vaekit[web]'") from None

    from vaekit.web.catalog import RunCatalog
    from vaekit.web.routes import check, explore, generate, runs
    from vaekit.web.routes.common import ServeSettings, describe
    from vaekit.web.security import LOOPBACK_HOSTS, Guard

    for name, value in (("max_upload_bytes", max_upload_bytes), ("max_pixels", max_pixels), ("max_points", max_points)):
        if value < 1:
            raise VaekitError(f"{name} must be at least 1, got {value}")
    app = FastAPI(title="vaekit", docs_url=None, redoc_url=None, openapi_url=None)  # no CDN-hosted docs page
    app.state.catalog = RunCatalog(root, max_models=max_models)
    app.state.settings = ServeSettings(max_upload_bytes, max_pixels, max_points)
    for module in (runs, generate, explore, check):
        app.include_router(module.router)

    @app.exception_handler(VaekitError)
    async def vaekit_error(request: Request, e: VaekitError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=getattr(e, "status", 400))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe(e.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> JSONResponse:
        log.exception("error answering %s", request.url.path)
        return JSONResponse({"detail": f"internal error: {type(e).__name__}: {e}"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, token=token, hosts=LOOPBACK_HOSTS if hosts is None else _hosts(hosts))
    return app


ANY_HOST = ("*",)


def _hosts(hosts: Iterable[str]) -> frozenset[str] | None:
    """``("*",)`` answers any Host header (a server on a public address, behind its token)."""
    hosts = tuple(hosts)
    return None if "*" in hosts else frozenset(hosts)
