"""Collects the routers."""

from __future__ import annotations

from fastapi import APIRouter

from autophon_upload.api.routes import health, languages, page, tasks, viewer

api_router = APIRouter()
api_router.include_router(tasks.router)
api_router.include_router(viewer.router)
api_router.include_router(languages.router)
api_router.include_router(health.router)
api_router.include_router(page.router)
