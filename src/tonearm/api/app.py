"""FastAPI app factory: one router per compatible family, shared error mapping."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from tonearm import __version__
from tonearm.api.errors import (
    error_responses,
    family_for,
    install_error_handlers,
    too_large_response,
)
from tonearm.api.guard import InputGuard
from tonearm.api.openapi import install_openapi
from tonearm.api.ops import Metrics, request_id_var
from tonearm.catalog.context import Catalog
from tonearm.hookspecs import RouterModule
from tonearm.platform.middleware import install_platform
from tonearm.settings import Settings

log = logging.getLogger("tonearm.api")

DOCS_ASSETS_URL = "/docs/assets"


def _router_modules(catalog: Catalog) -> list[RouterModule]:
    """The API modules the plugins declare (hook ``tonearm_routers``). Families do not share
    paths, except AudD's catch-all ``/``, whose hook is ``trylast`` so it is matched last."""
    return [m for mods in catalog.plugins.hook.tonearm_routers() for m in mods]


def create_app(settings: Settings | None = None, catalog: Catalog | None = None) -> FastAPI:
    settings = settings or (catalog.settings if catalog else Settings())
    catalog = catalog or Catalog.open(settings)
    mods = _router_modules(catalog)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for m in mods:
            if hasattr(m, "startup"):
                await m.startup(app)
        yield
        for m in reversed(mods):
            if hasattr(m, "shutdown"):
                await m.shutdown(app)

    # /docs (Swagger UI) and /redoc load their scripts from the package (fastapi-offline),
    # not from a CDN: everything runs offline
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        title="tonearm",
        version=__version__,
        description="Self-hosted audio intelligence. Speaks the AudioScape (discovery), "
        "Audjust (editing) and AudD (recognition) wire formats.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.metrics = metrics = Metrics(catalog)
    install_error_handlers(app)
    # per-key rate limits, credit quotas and usage recording (tonearm.platform); added
    # before request_id so that one stays outermost and 429 answers carry X-Request-Id too;
    # it answers in each family's error format, which the API hands it
    install_platform(app, catalog, error_responses())
    # invalid text (lone surrogates, bad UTF-8, NUL) and over-sized bodies never reach a
    # router: 400/413 in the family's format (tonearm.api.guard)
    app.add_middleware(InputGuard, settings=settings)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
        token = request_id_var.set(rid)  # every log line of this request carries it
        t0 = time.perf_counter()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_upload_bytes:
            # refuse before reading the body; the family's own "too big" answer
            response: Response = too_large_response(request, settings.max_upload_bytes)
        else:
            response = await call_next(request)
        response.headers["X-Request-Id"] = rid
        elapsed_s = time.perf_counter() - t0
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        metrics.observe(family_for(request), route, response.status_code, elapsed_s)
        log.info(
            "%s %s -> %s in %.1f ms",
            request.method,
            request.url.path,
            response.status_code,
            elapsed_s * 1000,
        )
        request_id_var.reset(token)
        return response

    for m in mods:
        app.include_router(m.router)
    install_openapi(app)
    return app


def create_app_from_env() -> FastAPI:
    """The app from ``TONEARM_*`` settings alone: the factory each uvicorn worker process
    calls when ``tonearm serve --http-workers N`` runs several."""
    from tonearm.api.ops import configure_logging

    settings = Settings()
    configure_logging(settings)
    return create_app(settings)
