"""``GET /``: a small page to upload files and watch tasks."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(files("autophon_upload").joinpath("static/index.html").read_text("utf-8"))
