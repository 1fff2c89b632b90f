"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shopfloor.core.clock import rfc3339_from_us

router = APIRouter(tags=["operations"])


@router.get("/health/live", summary="The process is running")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="The process can serve: database and bus reachable; connectors' state",
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
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    runner = getattr(request.app.state, "connectors", None)
    if runner is not None:
        # Reported, not judged: a broker being down does not make the API unable to serve.
        body["connectors"] = {
            state.name: {
                "kind": state.kind,
                "connected": state.connected,
                "messages": state.messages,
                "errors": state.errors,
                "last_message_at": rfc3339_from_us(int(state.last_message_at * 1e6))
                if state.last_message_at
                else None,
            }
            for state in runner.states()
        }
    return JSONResponse(body, status_code=200 if healthy else 503)
