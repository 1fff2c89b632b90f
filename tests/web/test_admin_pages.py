"""The administration area in a real browser: users, API keys, alarm rules, who sees what."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import DashboardServer, sign_in

pytestmark = pytest.mark.browser


async def test_an_admin_creates_a_user_after_fixing_what_the_form_says(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.admin, path="/admin/users")
    await page.locator("summary", has_text="New user").click()
    form = page.locator("form[action='/admin/users']")
    await form.get_by_label("User name").fill("Line Lead")
    await form.get_by_label("Role", exact=True).select_option("operator")
    await form.get_by_label("Password").fill("short")
    await form.get_by_role("button", name="Create user").click()

    await expect(page.get_by_role("alert")).to_contain_text("2 fields need a change")
    await expect(form.get_by_label("User name")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("#new-user-username-error")).to_contain_text("lower-case letters")
    await expect(form.locator("#new-user-password-error")).to_contain_text("at least 12")
    await expect(form.get_by_label("User name")).to_have_value("Line Lead")  # kept, to fix

    await form.get_by_label("User name").fill("line.lead")
    await form.get_by_label("Password").fill("forklift pallet 31415")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("status")).to_have_text("line.lead can now sign in as operator.")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="line.lead"))
    await expect(row.get_by_label("Role of line.lead")).to_have_value("operator")
    await expect(row).to_contain_text("password only")
    await expect(row).to_contain_text("never")


async def test_a_new_api_key_is_shown_once_and_can_be_copied(
    page: Page, dashboard: DashboardServer
) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, dashboard.admin, path="/admin/api-keys")
    await page.locator("summary", has_text="New API key").click()
    await page.get_by_label("Name").fill("press-gateway")
    await page.get_by_role("button", name="Create key").click()

    shown = page.get_by_label("The new API key")
    await expect(shown).to_have_value(re.compile(r"^sf_[a-z0-9]{8}_\S{20,}$"))
    await expect(page.get_by_text("You will not see it again.")).to_be_visible()
    key = await shown.input_value()
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == key

    async with httpx.AsyncClient(base_url=dashboard.base_url, timeout=30) as client:
        me = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["name"] == "press-gateway", me.text

    await page.reload()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="press-gateway"))
    await expect(row).to_contain_text(f"{key[:12]}…")
    await expect(page.get_by_label("The new API key")).to_have_count(0)
    assert key not in await page.content()


async def test_a_refused_rule_parameter_is_shown_at_its_field_then_a_good_rule_is_listed(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.user("maintenance_engineer"), path="/admin/rules")
    panel = page.locator(".create-panel")
    await panel.locator("summary", has_text="New rule").click()
    await panel.get_by_label("Name").fill("spindle-speeding-up")
    await panel.get_by_label("Scope").fill("acme/machining")
    await panel.get_by_label("Kind").select_option("rate_of_change")
    await panel.get_by_label("Severity").select_option("critical")
    speed = panel.get_by_label("Largest change per second")
    await speed.fill("-5")
    await panel.get_by_role("button", name="Create rule").click()

    await expect(speed).to_have_attribute("aria-invalid", "true")
    error = panel.locator("#new-rule-rate-of-change-max-per-second-error")
    await expect(error).to_have_text("Input should be greater than 0")
    await expect(page.get_by_role("heading", name="spindle-speeding-up")).to_have_count(0)

    await speed.fill("2.5")
    await panel.get_by_role("button", name="Create rule").click()
    await expect(page.get_by_role("status")).to_have_text(
        "The rule spindle-speeding-up applies from now on."
    )
    card = page.locator("li.item-card").filter(
        has=page.get_by_role("heading", name="spindle-speeding-up")
    )
    await expect(card).to_contain_text("Rate of change")
    await expect(card).to_contain_text("Largest change per second 2.5")
    rules = dashboard.api.get("/alarm-rules").json()["items"]
    rule = next(r for r in rules if r["name"] == "spindle-speeding-up")
    assert (rule["kind"], rule["severity"], rule["scope"]) == (
        "rate_of_change",
        "critical",
        "acme/machining",
    )
    assert rule["params"]["max_per_second"] == 2.5


async def test_a_maintenance_engineer_manages_notifications_and_rules_but_not_users(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.user("maintenance_engineer"), path="/admin")
    sections = page.get_by_role("navigation", name="Administration").get_by_role("listitem")
    await expect(sections).to_have_text(["Notifications", "Deliveries", "Alarm rules"])
    for path in ("/admin/users", "/admin/api-keys", "/admin/audit"):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path

    await page.goto("/admin/channels")
    await page.locator("summary", has_text="New channel").click()
    form = page.locator("form[action='/admin/channels']")
    await form.get_by_label("Name").fill("line-1-andon")
    await form.get_by_label("Webhook URL", exact=True).fill("http://127.0.0.1:9/andon")
    await form.get_by_label("Signing secret (optional)").fill("shared-hmac-secret-4711")
    await form.get_by_role("button", name="Create channel").click()
    await expect(page.get_by_role("status")).to_contain_text("The channel line-1-andon is ready")
    card = page.locator("li.item-card").filter(has=page.get_by_role("heading", name="line-1-andon"))
    await expect(card).to_contain_text("signed")
    await expect(card).to_contain_text("No subscriptions")
    assert "shared-hmac-secret-4711" not in await page.content()


async def test_a_viewer_has_no_admin_link_and_no_admin_pages(
    page: Page, dashboard: DashboardServer
) -> None:
    await sign_in(page, dashboard.user("viewer"))
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Overview")).to_be_visible()
    await expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    response = await page.goto("/admin")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
