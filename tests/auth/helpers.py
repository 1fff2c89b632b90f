"""Helpers of the sign-in and user tests (no tests here): users, anonymous clients, sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shopfloor.app import create_app
from shopfloor.auth.models import User
from shopfloor.auth.users import create_user
from shopfloor.config import Settings
from tests.fixtures.auth import bearer  # noqa: F401  (re-exported for the sign-in tests)
from tests.fixtures.lifespan import app_running

PASSWORD = "violet-anvil-harbour-93"
NEW_PASSWORD = "quiet-lantern-meadow-17"


@asynccontextmanager
async def anonymous(app: FastAPI, source: str = "10.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials, calling from address ``source``."""
    transport = httpx.ASGITransport(app=app, client=(source, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        yield http


@asynccontextmanager
async def app_with(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    """A running app of ``settings`` with ``overrides``."""
    app = create_app(settings.model_copy(update=overrides))
    async with app_running(app):
        yield app


async def make_user(
    app: FastAPI, username: str, role: str = "operator", password: str = PASSWORD
) -> User:
    async with app.state.db.write() as session:
        return await create_user(session, username=username, password=password, role=role)


async def sign_in(
    http: httpx.AsyncClient, username: str, password: str = PASSWORD, totp: str | None = None
) -> httpx.Response:
    form = {"username": username, "password": password, "grant_type": "password"}
    if totp is not None:
        form["totp"] = totp
    return await http.post("/auth/token", data=form)


async def tokens_of(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict:
    response = await sign_in(http, username, password)
    assert response.status_code == 200, response.text
    return response.json()
