"""Browser-facing defences: security headers, CORS only when configured, no secrets in logs."""

from __future__ import annotations

import httpx

from shopfloor.app import create_app
from tests.fixtures.auth import ADMIN_PASSWORD
from tests.fixtures.lifespan import app_running


async def test_api_answers_carry_security_headers(client):
    response = await client.get("/alarms")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers


async def test_without_configuration_no_origin_is_allowed(client):
    preflight = await client.options(
        "/alarms",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_configured_origins_and_only_those_may_call_from_a_browser(settings):
    app = create_app(settings.model_copy(update={"cors_origins": ["https://hmi.plant.example"]}))
    async with app_running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
            allowed = await http.options(
                "/alarms",
                headers={
                    "Origin": "https://hmi.plant.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert allowed.headers["access-control-allow-origin"] == "https://hmi.plant.example"
            other = await http.get("/health/live", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers


async def test_tokens_are_not_cached_and_secrets_never_reach_the_log(app, capsys):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        response = await http.post(
            "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        token = response.json()["access_token"]
        refresh = response.json()["refresh_token"]
        await http.get("/alarms", headers={"Authorization": f"Bearer {token}"})
        await http.post("/auth/token", data={"username": "admin", "password": "wrong" * 3})
    logged = capsys.readouterr()
    for secret in (ADMIN_PASSWORD, token, refresh, "wrongwrongwrong"):
        assert secret not in logged.out and secret not in logged.err
