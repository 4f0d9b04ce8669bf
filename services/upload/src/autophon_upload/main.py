"""The upload service's FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

import autophon_upload
from autophon_core.config import Settings
from autophon_core.runtime import Runtime
from autophon_upload.api.main import api_router
from autophon_upload.ratelimit import UploadRateLimiter

log = logging.getLogger("autophon.api")


def create_app(runtime: Runtime, *, own_runtime: bool = False) -> FastAPI:
    """The app over ``runtime``; it closes the runtime on shutdown if ``own_runtime``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_runtime:
            runtime.close()

    app = FastAPI(
        title="AutoPhon",
        version=autophon_upload.__version__,
        description="Forced alignment as a service: recordings and transcripts in, "
        "Praat TextGrids with word and phone tiers out.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.upload_limiter = UploadRateLimiter(runtime.settings.api.uploads_per_minute)
    if runtime.settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)})
        return JSONResponse(
            {"detail": "The database is unavailable at the moment; please retry shortly."},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(InterfaceError, database_unavailable)
    app.include_router(api_router)
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn (``autophon api``)."""
    runtime = Runtime.create(settings)
    app = create_app(runtime, own_runtime=True)
    uvicorn.run(
        app,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=int(settings.queue.shutdown_grace_seconds),
    )
