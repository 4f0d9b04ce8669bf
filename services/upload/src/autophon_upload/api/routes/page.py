"""The pages: ``GET /`` to upload files and follow tasks, ``GET /viewer?task=<id>`` to see
an alignment, and their static files. Plain HTML, CSS and JS from the package: no build."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["page"])

STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "viewer.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _read(name: str) -> str:
    return files("autophon_upload").joinpath(f"static/{name}").read_text("utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(_read("index.html"))


@router.get("/viewer", response_class=HTMLResponse, include_in_schema=False)
def viewer() -> HTMLResponse:
    return HTMLResponse(_read("viewer.html"))


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such file.")
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": "no-cache"})
