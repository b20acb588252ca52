"""The Starlette app: the JSON API, the page and its static assets, behind ``UiGuard``."""

from __future__ import annotations

import contextlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .api import routes as api_routes
from .api.common import ApiError, UiState
from .config import UiConfig
from .security import UiGuard

STATIC = Path(__file__).resolve().parent / "static"


async def _index(request: Request):
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})


async def _favicon(request: Request):
    return Response(status_code=204)


async def _api_error(request: Request, exc: ApiError):
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _store_error(request: Request, exc: Exception):
    return JSONResponse({"error": f"the store could not answer: {exc}"}, status_code=500)


async def _not_found(request: Request, exc: Exception):
    return JSONResponse({"error": f"no such endpoint {request.url.path}"}, status_code=404)


def build_app(config: UiConfig) -> Starlette:
    """The UI app over the store at ``config.store_path`` (opened at startup, closed at exit)."""
    from elixir_scope.store import StoreError, TraceStore

    config.validate()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        store = TraceStore.open(config.store_path)
        app.state.ui = UiState(store, config)
        try:
            yield
        finally:
            live = app.state.ui.live
            if live is not None:
                from .api.live import close_link

                await close_link(live)
            store.close()

    return Starlette(
        routes=[Route("/", _index), Route("/favicon.ico", _favicon), *api_routes(), Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(UiGuard, config=config)],
        exception_handlers={ApiError: _api_error, StoreError: _store_error, 404: _not_found},
        lifespan=lifespan,
    )
