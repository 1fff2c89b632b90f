"""Helpers shared by the API tests: problem documents and apps with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shopfloor.app import create_app
from shopfloor.config import Settings
from tests.fixtures.auth import admin_client
from tests.fixtures.lifespan import app_running

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://shopfloor.dev/problems/"


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict:
    """An RFC 9457 problem document with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE)
    assert body["title"] and body["detail"]
    if slug is not None:
        assert body["type"] == PROBLEM_BASE + slug
    return body


def error_locs(body: dict) -> list[list]:
    return [error["loc"] for error in body["errors"]]


@asynccontextmanager
async def client_for(settings: Settings, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built from ``settings`` with ``overrides``, on the same database."""
    app = create_app(settings.model_copy(update=overrides))
    async with app_running(app), admin_client(app) as http:
        yield http
