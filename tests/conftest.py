"""Shared fixtures: every API test runs on SQLite and on a real PostgreSQL server.

PostgreSQL is started once per test run (initdb into a temporary folder, a free port) and
stopped at the end. Each test gets a fresh database cloned from a migrated template, so tests
never see each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shopfloor.app import create_app
from shopfloor.config import Settings
from shopfloor.storage.migrate import upgrade
from tests.fixtures.auth import SECRET_KEY, admin_client, seed_admin
from tests.fixtures.lifespan import app_running
from tests.fixtures.servers import PostgresServer, RedisServer, postgres_server, redis_server

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    pg_server.create_database("template_shopfloor")
    upgrade(pg_server.url("template_shopfloor"))
    seed_admin(pg_server.url("template_shopfloor"))
    return "template_shopfloor"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    seed_admin(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every PostgreSQL run, so that ``-m "not postgres"`` selects the SQLite ones."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "shopfloor.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"t{next(_counter)}"
    server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_json=False,
        secret_key=SECRET_KEY,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with app_running(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app signed in as the admin."""
    async with admin_client(app) as http:
        yield http


@pytest.fixture
async def plant(client: httpx.AsyncClient) -> dict[str, int]:
    """A small plant: acme/press-line/press-1 with two sensors. Returns sensor ids by path."""
    for path, kind in [
        ("acme", "site"),
        ("acme/press-line", "line"),
        ("acme/press-line/press-1", "machine"),
    ]:
        response = await client.post("/assets", json={"path": path, "kind": kind})
        assert response.status_code == 201, response.text
    ids = {}
    for name, unit in [("oil-temp", "degC"), ("vibration", "mm/s")]:
        path = f"acme/press-line/press-1/{name}"
        response = await client.post(
            "/sensors", json={"path": path, "unit": unit, "low_limit": 0, "high_limit": 100}
        )
        assert response.status_code == 201, response.text
        ids[path] = response.json()["id"]
    return ids


def run(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine from synchronous test code."""
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    """One redis-server for the test run; tests separate themselves by key namespace."""
    with redis_server() as server:
        yield server
