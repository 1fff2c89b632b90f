"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/health/live", summary="The process is running")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="The process can serve: database and bus reachable",
    responses={503: {"description": "Something the process needs is down; `checks` names it."}},
)
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in request.app.state.readiness_probes.items():
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:  # a probe failing for any reason means not ready
            checks[name] = f"down: {type(exc).__name__}: {exc}"[:300]
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )
