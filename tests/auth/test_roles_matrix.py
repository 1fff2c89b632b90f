"""Every route of the app x every role and the ingest key, against the CONTRACT's role matrix.

The routes come from the app itself, so a route added without a line in ``auth.policy`` fails
here. Each case checks what a caller sees: 401 without credentials, 403 with too few rights,
and otherwise an answer from the route itself (a 2xx, or a 404/409/422 about the made-up ids
and empty bodies sent), never a 5xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest

from shopfloor.auth.apikeys import create_api_key
from shopfloor.auth.models import User
from shopfloor.auth.policy import POLICY, Access, rule_for
from shopfloor.auth.roles import ROLES, Permission
from shopfloor.storage import Database
from tests.fixtures.auth import bearer, token_for

API = "/api/v1"
MISSING_ID = "987654"
# What the CONTRACT's matrix says, row by row, in the matrix's own words.
MATRIX: dict[Permission, set[str]] = {
    Permission.READ: {
        "viewer",
        "operator",
        "inspector",
        "maintenance_engineer",
        "quality_manager",
        "admin",
    },
    Permission.INGEST: {"admin", "key:ingest"},
    Permission.ACKNOWLEDGE: {
        "operator",
        "inspector",
        "maintenance_engineer",
        "quality_manager",
        "admin",
    },
    Permission.RESOLVE: {"maintenance_engineer", "quality_manager", "admin"},
    Permission.MANAGE_PLANT: {"maintenance_engineer", "admin"},
    Permission.INSPECT: {"inspector", "quality_manager", "admin"},
    Permission.MANAGE_QUALITY: {"quality_manager", "admin"},
    Permission.MANAGE_NOTIFY: {"maintenance_engineer", "quality_manager", "admin"},
    Permission.ADMIN: {"admin"},
    Permission.MANAGE_MODELS: {"maintenance_engineer", "admin"},
}
CALLERS = ("nobody", *ROLES, "key:ingest")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # within /api/v1, with {parameters}

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", MISSING_ID, self.path)


def app_routes(app) -> list[Route]:
    """Every operation the app's OpenAPI document lists under /api/v1."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith(API):
            continue
        for method in operations:
            routes.append(Route(method.upper(), path.removeprefix(API)))
    return sorted(routes, key=lambda r: (r.path, r.method))


async def callers(settings, database_url: str) -> dict[str, dict[str, str]]:
    """Headers for each caller: one user per role (the admin exists already), the ingest key."""
    headers: dict[str, dict[str, str]] = {"nobody": {}}
    db = Database(database_url)
    try:
        async with db.write() as session:
            users = [
                User(username=role.replace("_", "-"), role=role, password_hash="unused")
                for role in ROLES
                if role != "admin"
            ]
            session.add_all(users)
            await session.flush()
            _, key = await create_api_key(
                session, name="line-gateway", scopes=["ingest"], created_by="test"
            )
        for user in users:
            headers[user.role] = bearer(token_for(user.id, user.username, user.role))
        headers["admin"] = bearer(token_for(1, "admin", "admin"))
        headers["key:ingest"] = {"X-API-Key": key}
    finally:
        await db.dispose()
    return headers


def expected(rule, caller: str) -> str:
    if rule is Access.PUBLIC:
        return "answered"
    if caller == "nobody":
        return "401"
    if rule is Access.USER:
        return "403" if caller.startswith("key:") else "answered"
    if rule is Access.SIGNED_IN or caller in MATRIX[rule]:
        return "answered"
    return "403"


def seen(response: httpx.Response) -> str:
    if response.status_code >= 500:
        return f"server error {response.status_code}: {response.text[:200]}"
    if response.status_code in (401, 403):
        # A route's own 401 (a bad refresh token, a wrong password) is an answer, not a refusal.
        slug = response.json().get("type", "").rsplit("/", 1)[-1]
        if slug in ("unauthorized", "forbidden"):
            return str(response.status_code)
    return "answered"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_route_answers_every_caller_as_the_matrix_says(app, settings, database_url):
    routes = app_routes(app)
    unruled = [f"{r.method} {r.path}" for r in routes if rule_for(r.method, r.path) is None]
    assert not unruled, f"routes without an access rule in auth.policy: {unruled}"
    stale = {f"{m} {p}" for m, p in POLICY} - {f"{r.method} {r.path}" for r in routes}
    assert not stale, f"rules for routes that do not exist: {sorted(stale)}"

    headers = await callers(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    wrong = []
    cases = 0
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{API}") as http:
        for route in routes:
            rule = rule_for(route.method, route.path)
            for caller in CALLERS:
                body = {} if route.method in ("POST", "PATCH") else None
                response = await http.request(
                    route.method, route.url(), json=body, headers=headers[caller]
                )
                cases += 1
                if (got := seen(response)) != (want := expected(rule, caller)):
                    wrong.append(f"{route.method} {route.path} as {caller}: {got}, not {want}")
    assert not wrong, "\n".join(wrong)
    print(f"role matrix: {cases} route x caller cases over {len(routes)} routes")
    assert cases == len(routes) * len(CALLERS) and len(routes) == len(POLICY)


async def test_a_refusal_says_who_lacks_what(app, settings, database_url):
    headers = await callers(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{API}") as http:
        response = await http.post(
            "/assets", json={"path": "acme", "kind": "site"}, headers=headers["operator"]
        )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert "operator" in detail and "manage_plant" in detail
        response = await http.get("/assets", headers=headers["key:ingest"])
        assert response.status_code == 403 and "line-gateway" in response.json()["detail"]


async def test_without_credentials_the_answer_is_401_with_a_challenge(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{API}") as http:
        response = await http.get("/alarms")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"].startswith("application/problem+json")
        # Probes need no credentials.
        assert (await http.get("/health/live")).status_code == 200
