"""Probes and metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from autophon_core.migrate import readiness_problem
from autophon_upload.api.deps import RuntimeDep
from autophon_upload.schemas import Message

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Message, summary="The process is alive")
def healthz() -> Message:
    return Message(detail="ok")


@router.get(
    "/readyz",
    response_model=Message,
    responses={503: {"model": Message}},
    summary="The database is reachable and its schema at the revision this version needs",
)
def readyz(runtime: RuntimeDep) -> Message:
    problem = readiness_problem(runtime.engine)
    if problem:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, problem)
    return Message(detail="ready")


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
