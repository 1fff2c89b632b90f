"""The application: ``create_app(settings)`` wires storage, services and routes.

The lifespan owns everything with a life of its own (engine, background tasks) and closes
it in reverse order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import structlog
from fastapi import APIRouter, Depends, FastAPI

from shopfloor import __version__
from shopfloor.alarms import api as alarms_api
from shopfloor.auth import api as auth_api
from shopfloor.auth import apikey_api, audit_api
from shopfloor.auth.audit_hooks import install_audit_hooks
from shopfloor.auth.guard import authorize
from shopfloor.auth.hardening import install_hardening
from shopfloor.config import Settings
from shopfloor.connectors import api as connectors_api
from shopfloor.connectors.wiring import build_runner
from shopfloor.core.problems import install_problem_handlers
from shopfloor.ml import api as models_api
from shopfloor.notify import api as notify_api
from shopfloor.observe import health
from shopfloor.observe.metrics import metrics_endpoint
from shopfloor.observe.middleware import RequestContextMiddleware
from shopfloor.pipeline import api as pipeline_api
from shopfloor.pipeline.wiring import Pipeline
from shopfloor.plant import api as plant_api
from shopfloor.quality import analytics_api, inspections_api, spc_api
from shopfloor.quality import api as quality_api
from shopfloor.readings import api as readings_api
from shopfloor.readings.events import offer_to
from shopfloor.readings.service import build_ingestor
from shopfloor.storage import Database
from shopfloor.web import install_web, start_live, stop_live

API_PREFIX = "/api/v1"
log = structlog.get_logger("shopfloor.app")
BackgroundTask = Callable[[FastAPI], Awaitable[None]]


def create_app(
    settings: Settings | None = None,
    background: list[BackgroundTask] | None = None,
    *,
    run_pipeline: bool = True,
) -> FastAPI:
    """The application. ``run_pipeline=False`` serves the API only (workers run the stages)."""
    settings = settings or Settings()
    install_audit_hooks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        await db.start()
        state = app.state
        state.settings = settings
        state.db = db
        state.ingestor = build_ingestor(db, settings)
        state.store = state.ingestor.store
        state.directory = state.ingestor.directory
        pipeline = Pipeline(settings, db, run_stages=run_pipeline)
        state.pipeline = pipeline
        state.ingestor.on_commit.append(offer_to(pipeline.relay))
        state.readiness_probes = {"database": db.ping, "bus": pipeline.bus.ping}
        try:
            await state.store.start(db)
        except Exception as exc:  # the store also prepares on demand; serve and report instead
            log.warning("store start-up preparation failed", error=str(exc))
        await pipeline.start()
        state.connectors = None
        if settings.run_connectors:
            state.connectors = build_runner(db, state.ingestor, settings)
            await state.connectors.start()
        tasks = [asyncio.create_task(job(app)) for job in background or []]
        await start_live(app)
        try:
            yield
        finally:
            await stop_live(app)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError, Exception):
                    await task
            if state.connectors is not None:
                await state.connectors.stop()
            await pipeline.stop()
            await db.dispose()

    app = FastAPI(
        title="shopfloor",
        version=__version__,
        summary="Manufacturing quality and predictive maintenance: readings, alarms, SPC.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    install_problem_handlers(app)
    install_hardening(app, api_prefix=API_PREFIX, cors_origins=settings.cors_origins)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)

    # Every API route passes ``authorize`` (auth.policy holds the rule of each).
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authorize)])
    api.include_router(auth_api.router)
    api.include_router(apikey_api.router)
    api.include_router(audit_api.router)
    api.include_router(plant_api.router)
    api.include_router(readings_api.router)
    api.include_router(alarms_api.router)
    api.include_router(notify_api.router)
    api.include_router(quality_api.router)
    api.include_router(inspections_api.router)
    api.include_router(analytics_api.router)
    api.include_router(spc_api.router)
    api.include_router(health.router)
    api.include_router(pipeline_api.router)
    api.include_router(connectors_api.router)
    api.include_router(models_api.router)
    app.include_router(api)
    app.add_route(f"{API_PREFIX}/metrics", metrics_endpoint, include_in_schema=False)
    # Probes and scrapers expect these at the root as well.
    app.include_router(health.router, include_in_schema=False)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    install_web(app)  # the dashboard at /, after the API and its error handlers
    return app
