"""A sensor's page in a real browser: the live chart, the range picker, empty and error states."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Page, Route, expect

from tests.web.conftest import DashboardServer, sign_in

pytestmark = pytest.mark.browser

MACHINE = "acme/line-1/press-7"
OIL = f"{MACHINE}/oil-temp"  # limits 0..100, readings every 10 s for the last 10 minutes
QUIET = f"{MACHINE}/vibration"  # no readings
HISTORY = 60


@pytest.fixture(scope="module")
def sensors(dashboard: DashboardServer) -> dict[str, int]:
    api = dashboard.api
    for path, kind in [("acme", "site"), ("acme/line-1", "line"), (MACHINE, "machine")]:
        assert api.post("/assets", json={"path": path, "kind": kind}).status_code == 201
    ids = {}
    for path, unit in [(OIL, "degC"), (QUIET, "mm/s")]:
        body = {"path": path, "unit": unit, "low_limit": 0, "high_limit": 100}
        response = api.post("/sensors", json={**body, "sampling_interval_s": 10})
        assert response.status_code == 201, response.text
        ids[path] = response.json()["id"]
    now = time.time()
    ts = [now - 10 * (HISTORY - i) for i in range(HISTORY)]
    values = [40 + (i % 7) for i in range(HISTORY)]
    response = api.post("/readings", json={"series": [{"sensor": OIL, "ts": ts, "values": values}]})
    assert response.status_code == 202, response.text
    return ids


def post_reading(dashboard: DashboardServer, sensor: str, value: float) -> None:
    body = {"readings": [{"sensor": sensor, "ts": time.time(), "value": value}]}
    response = dashboard.api.post("/readings", json=body)
    assert response.status_code == 202, response.text


async def test_a_posted_reading_appears_on_the_live_chart_and_30_days_read_rollups(
    page: Page, dashboard: DashboardServer, sensors: dict[str, int]
) -> None:
    await sign_in(page, dashboard.user("viewer"), path=f"/sensors/{sensors[OIL]}")
    chart = page.locator("#sensor-chart")
    await expect(page.get_by_role("heading", name="oil-temp", level=1)).to_be_visible()
    await expect(chart).to_have_attribute("data-state", "ready")
    await expect(chart).to_have_attribute("data-mode", "raw")
    await expect(chart).to_have_attribute("data-points", str(HISTORY))
    await expect(page.locator(".facts")).to_contain_text("0 to 100 degC")
    await expect(page.locator(".facts")).to_contain_text("seasonal")

    post_reading(dashboard, OIL, 123.25)  # above the high limit: an alarm opens too

    await expect(page.locator("#latest-value")).to_have_text("123.25")
    await expect(page.locator(".latest")).to_contain_text("Above the high limit (100)")
    await expect(chart).to_have_attribute("data-points", str(HISTORY + 1))
    assert await page.evaluate("window.sensorChart.points()") == HISTORY + 1
    mark = page.locator("a.alarm-mark")
    await expect(mark).to_have_count(1)
    await expect(mark).to_have_attribute("href", re.compile(r"^/alarms/\d+$"))
    await expect(mark).to_have_attribute("aria-label", re.compile(r"^Warning alarm \(open\)"))
    await expect(page.locator(".alarm-table tbody tr")).to_have_count(1)
    await expect(page.locator("#sensor-open-alarms")).to_have_text("1 open alarm")

    thirty_days = page.locator(".range-picker").get_by_role("link", name="30 d")
    await thirty_days.focus()
    await page.keyboard.press("Enter")
    await expect(chart).to_have_attribute("data-mode", "buckets")
    await expect(thirty_days).to_have_attribute("aria-current", "true")
    await expect(page).to_have_url(re.compile(r"\?range=30d$"))
    await expect(page.locator("#chart-caption")).to_contain_text("1h buckets")
    # Eleven minutes of readings fall in one or two hours of the rollups.
    assert 1 <= await page.evaluate("window.sensorChart.points()") <= 2
    assert await page.evaluate("window.sensorChart.mode()") == "buckets"


async def test_a_sensor_without_readings_says_so_until_its_first_one_arrives(
    page: Page, dashboard: DashboardServer, sensors: dict[str, int]
) -> None:
    await sign_in(page, dashboard.user("operator"))
    await page.get_by_label("Sensors of press-7").get_by_role("link", name="vibration").click()
    await expect(page).to_have_url(re.compile(rf"/sensors/{sensors[QUIET]}$"))
    chart = page.locator("#sensor-chart")
    await expect(chart).to_have_attribute("data-state", "empty")
    await expect(page.locator("#chart-message")).to_contain_text("No readings yet")
    await expect(page.locator("#latest-value")).to_have_text("No readings yet")

    post_reading(dashboard, QUIET, 4.5)

    await expect(chart).to_have_attribute("data-state", "ready")
    await expect(page.locator("#chart-message")).to_be_hidden()
    await expect(page.locator("#latest-value")).to_have_text("4.5")


async def test_a_chart_that_cannot_load_says_why_and_loads_on_retry(
    page: Page, dashboard: DashboardServer, sensors: dict[str, int]
) -> None:
    await sign_in(page, dashboard.user("viewer"))

    async def fail(route: Route) -> None:
        await route.fulfill(status=503, body="", headers={"content-type": "text/html"})

    await page.route("**/chart?range=*", fail)
    await page.goto(f"/sensors/{sensors[OIL]}")
    message = page.locator("#chart-message")
    await expect(message).to_have_attribute("role", "alert")
    await expect(message).to_contain_text("The chart could not be loaded.")
    await expect(message).to_contain_text("503")

    await page.unroute("**/chart?range=*", fail)
    await message.get_by_role("button", name="Try again").click()
    await expect(page.locator("#sensor-chart")).to_have_attribute("data-state", "ready")
    await expect(message).to_be_hidden()
