"""The browser session and its guards, against the app in process (SQLite and PostgreSQL).

Sign-in through the form, cookies, redirects for requests without a session (pages, htmx,
event streams, links from other sites), CSRF, refresh rotation and its reuse detection, and
sign-out: each as a browser would meet it, without the browser.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shopfloor.web.session import RotationMemo
from tests.fixtures.auth import ADMIN_ID, ADMIN_NAME, ADMIN_PASSWORD, admin_headers

BASE = "http://test"
HTML = {"Accept": "text/html"}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client of the dashboard, not signed in."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    page = await browser.get("/login")
    return await browser.post(
        "/login",
        data={
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "next": next_path,
            "csrf_token": form_token(page.text),
        },
        headers={"Origin": BASE},
    )


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_pages_without_a_session_go_to_the_sign_in_page(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/alarms", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/alarms"
    htmx = await browser.get(
        "/overview/tree", headers={"HX-Request": "true", "HX-Current-URL": f"{BASE}/quality"}
    )
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"] == "/login?next=/quality"
    stream = await browser.get("/live/overview", headers={"Accept": "text/event-stream"})
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: signed-out" in stream.text


async def test_a_link_from_another_site_is_loaded_once_more_before_asking_to_sign_in(
    browser: httpx.AsyncClient,
) -> None:
    # SameSite=Strict cookies stay home on a cross-site navigation; a reload from here sends them.
    response = await browser.get("/alarms", headers={**HTML, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert 'http-equiv="refresh" content="0; url=/alarms"' in response.text


async def test_signing_in_sets_strict_http_only_cookies_and_goes_where_asked(
    browser: httpx.AsyncClient,
) -> None:
    response = await sign_in(browser, next_path="/quality")
    assert response.status_code == 303 and response.headers["location"] == "/quality"
    cookies = set_cookies(response)
    assert {"sf_access", "sf_refresh"} <= set(cookies)
    for header in cookies.values():
        assert "HttpOnly" in header and "SameSite=Strict" in header, header
    page = await browser.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("target", ["//elsewhere.example/", "https://elsewhere.example/", "x"])
async def test_the_next_page_is_never_another_site(browser: httpx.AsyncClient, target: str) -> None:
    response = await sign_in(browser, next_path=target)
    assert response.headers["location"] == "/"


async def test_forms_without_the_token_or_from_another_origin_are_refused(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/login")
    fields = {"username": ADMIN_NAME, "password": ADMIN_PASSWORD}
    no_token = await browser.post("/login", data=fields, headers={**HTML, "Origin": BASE})
    assert no_token.status_code == 403 and "Form refused" in no_token.text
    token = form_token(page.text)
    elsewhere = await browser.post(
        "/login",
        data={**fields, "csrf_token": token},
        headers={"Origin": "http://elsewhere.example"},
    )
    assert elsewhere.status_code == 403
    sandboxed = await browser.post(
        "/login",
        data={**fields, "csrf_token": token},
        headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    )
    assert sandboxed.status_code == 403
    assert "sf_access" not in set_cookies(sandboxed)


async def test_an_expired_access_token_is_renewed_by_rotating_the_refresh_token(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    app.state.web_rotations = RotationMemo(grace_s=0)  # no sharing: every use is a new one
    await sign_in(browser)
    first_refresh = browser.cookies["sf_refresh"]
    browser.cookies.delete("sf_access")  # what the browser does once its max-age is over
    page = await browser.get("/")
    assert page.status_code == 200
    assert {"sf_access", "sf_refresh"} <= set(set_cookies(page))
    assert browser.cookies["sf_refresh"] != first_refresh
    # The spent token again (someone else's copy): the whole sign-in ends, as in the API.
    second_refresh = browser.cookies["sf_refresh"]
    browser.cookies.clear()
    browser.cookies.set("sf_refresh", first_refresh)
    assert (await browser.get("/", headers=HTML)).status_code == 303
    browser.cookies.clear()
    browser.cookies.set("sf_refresh", second_refresh)
    assert (await browser.get("/", headers=HTML)).status_code == 303


async def test_requests_sent_together_share_one_rotation(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in(browser)
    refresh = browser.cookies["sf_refresh"]
    answers = []
    for _ in range(2):  # the page and its stream, both with the expired pair
        browser.cookies.clear()
        browser.cookies.set("sf_refresh", refresh)
        answers.append(await browser.get("/overview/tree"))
    assert [a.status_code for a in answers] == [200, 200]
    assert len({a.cookies["sf_refresh"] for a in answers}) == 1


async def test_signing_out_revokes_the_refresh_token(browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    refresh = browser.cookies["sf_refresh"]
    page = await browser.get("/")
    response = await browser.post(
        "/logout", data={"csrf_token": form_token(page.text)}, headers={"Origin": BASE}
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    browser.cookies.clear()
    browser.cookies.set("sf_refresh", refresh)
    assert (await browser.get("/", headers=HTML)).status_code == 303


async def test_a_new_role_ends_the_browser_session_as_it_ends_tokens(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"{BASE}/api/v1") as api:
        created = await api.post(
            "/users",
            json={"username": "second-admin", "password": ADMIN_PASSWORD, "role": "admin"},
            headers=admin_headers(),
        )
        assert created.status_code == 201, created.text
        demoted = await api.patch(
            f"/users/{ADMIN_ID}", json={"role": "viewer"}, headers=admin_headers()
        )
        assert demoted.status_code == 200, demoted.text
    assert (await browser.get("/", headers=HTML)).status_code == 303


async def test_the_api_and_its_documents_are_untouched(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/docs")).status_code == 200
    document = (await browser.get("/api/v1/openapi.json")).json()
    assert all(path.startswith("/api/v1") for path in document["paths"])
    api_missing = await browser.get("/api/v1/nothing-here", headers=HTML)
    assert api_missing.headers["content-type"] == "application/problem+json"
    page_missing = await browser.get("/nothing-here", headers=HTML)
    assert page_missing.status_code == 404
    assert "There is no page at /nothing-here" in page_missing.text
    plain_missing = await browser.get("/nothing-here")
    assert plain_missing.headers["content-type"] == "application/problem+json"
