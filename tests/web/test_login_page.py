"""Signing in and out in a real browser: password, second factor, mistakes, the session cookies."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import DashboardServer, sign_in

pytestmark = pytest.mark.browser


async def test_a_page_asked_for_without_a_session_opens_after_signing_in(
    page: Page, dashboard: DashboardServer
) -> None:
    await page.goto("/alarms")
    await expect(page).to_have_url(re.compile(r"/login\?next=/alarms$"))
    await sign_in(page, dashboard.user("operator"), path="/alarms")
    await expect(page.get_by_role("heading", name="Alarms", level=1)).to_be_visible()
    await expect(page.get_by_text("operator", exact=True)).to_be_visible()


async def test_a_wrong_password_says_so_and_signs_nobody_in(
    page: Page, dashboard: DashboardServer
) -> None:
    login = dashboard.user("viewer")
    await page.goto("/login")
    await page.get_by_label("User name").fill(login.username)
    await page.get_by_label("Password").fill("not the password at all")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await expect(page.get_by_label("User name")).to_have_value(login.username)
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login$"))


async def test_a_second_factor_is_asked_for_and_a_wrong_code_refused(
    page: Page, dashboard: DashboardServer
) -> None:
    login = dashboard.user("maintenance_engineer", totp=True)
    await page.goto("/login")
    await page.get_by_label("User name").fill(login.username)
    await page.get_by_label("Password").fill(login.password)
    await page.get_by_role("button", name="Sign in").click()
    code = page.get_by_label("Authenticator code")
    await expect(code).to_be_focused()
    await expect(page.get_by_label("Password")).to_have_count(0)  # never written back
    wrong = "000000" if login.next_code() != "000000" else "111111"
    await code.fill(wrong)
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_contain_text("not the current one")
    await page.get_by_label("Authenticator code").fill(login.next_code())
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.get_by_role("heading", name="Plant overview")).to_be_visible()


async def test_the_session_cookies_are_http_only_and_same_site_strict(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.user("viewer"))
    cookies = {cookie["name"]: cookie for cookie in await page.context.cookies()}
    assert {"sf_access", "sf_refresh", "sf_csrf"} <= set(cookies)
    for cookie in cookies.values():
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert await page.evaluate("document.cookie") == ""


async def test_signing_out_ends_the_session(page: Page, dashboard: DashboardServer) -> None:
    await sign_in(page, dashboard.user("inspector"))
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_text("You have signed out.")).to_be_visible()
    await page.goto("/quality")
    await expect(page).to_have_url(re.compile(r"/login\?next=/quality$"))


async def test_the_header_shows_only_the_areas_a_role_may_use(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.user("quality_manager"))
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link")).to_have_text(["Overview", "Alarms", "Quality", "Admin"])
    await expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    response = await page.goto("/admin/users")  # the Admin link leads to notifications only
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
