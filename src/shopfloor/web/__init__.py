"""The web dashboard: server-rendered pages (Jinja2), made live with htmx and Server-Sent Events.

``install_web(app)`` mounts the pages at ``/`` and the static files at ``/static`` (none of it
in the API's OpenAPI document); ``start_live``/``stop_live`` run the live broadcaster within the
application's lifespan. Everything the browser loads is served from this package (``static/``,
its third-party files in ``static/vendor/``): a plant network is often offline.

Where to start when adding a page: ``pages/__init__.py`` (how a page module registers),
``templating.py`` (what templates can use), ``deps.py`` (sessions and permissions), and
``live/`` (live updates).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from shopfloor.web.cookies import WebResponseMiddleware
from shopfloor.web.csrf import verify_csrf
from shopfloor.web.deps import signed_in, web_route
from shopfloor.web.errors import install_error_pages
from shopfloor.web.live.broadcaster import Broadcaster
from shopfloor.web.live.exits import ExitWatch
from shopfloor.web.pages import PAGE_MODULES
from shopfloor.web.templating import STATIC_DIR, STATIC_PREFIX


def install_web(app: FastAPI) -> None:
    """Mount the dashboard on ``app`` (after the API and its error handlers)."""
    common = [Depends(web_route), Depends(verify_csrf)]
    public = APIRouter(include_in_schema=False, dependencies=common)
    private = APIRouter(include_in_schema=False, dependencies=[*common, Depends(signed_in)])
    for module in PAGE_MODULES:
        (public if getattr(module, "PUBLIC", False) else private).include_router(module.router)
    app.include_router(public)
    app.include_router(private)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    app.state.web_nav = [module.NAV for module in PAGE_MODULES if getattr(module, "NAV", None)]
    install_error_pages(app)
    app.add_middleware(WebResponseMiddleware)


async def start_live(app: FastAPI) -> Broadcaster:
    """Start this process's broadcaster with every page's feeds (``app.state.web_live``)."""
    broadcaster = Broadcaster(app.state.db)
    for module in PAGE_MODULES:
        for make_feed in getattr(module, "FEEDS", ()):
            broadcaster.add_feed(make_feed(app))
    watch = ExitWatch(broadcaster.close_streams)
    watch.install()
    app.state.web_live = broadcaster
    app.state.web_exit_watch = watch
    await broadcaster.start()
    return broadcaster


async def stop_live(app: FastAPI) -> None:
    """End every live stream and the broadcaster (before the database closes)."""
    broadcaster: Broadcaster | None = getattr(app.state, "web_live", None)
    watch: ExitWatch | None = getattr(app.state, "web_exit_watch", None)
    if watch is not None:
        watch.uninstall()
    if broadcaster is not None:
        await broadcaster.stop()
