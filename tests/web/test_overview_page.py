"""The plant overview in a real browser: states, live updates over SSE, role-aware controls."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Locator, Page, expect

from tests.web.conftest import DashboardServer, sign_in

pytestmark = pytest.mark.browser

LINE = "acme/line-1"
# Machine → its oil temperature now (None: no reading). Limits 0..100, sampled every minute.
MACHINES = {
    "press-ok": 50.0,
    "press-live": 40.0,
    "press-near": 95.0,
    "press-silent": None,
    "press-shelved": 50.0,
    "press-service": 50.0,
}


@pytest.fixture(scope="module")
def plant(dashboard: DashboardServer) -> DashboardServer:
    api = dashboard.api
    for path, kind in [("acme", "site"), (LINE, "line")]:
        assert api.post("/assets", json={"path": path, "kind": kind}).status_code == 201
    for machine, value in MACHINES.items():
        path = f"{LINE}/{machine}"
        assert api.post("/assets", json={"path": path, "kind": "machine"}).status_code == 201
        sensor = {"path": f"{path}/oil-temp", "low_limit": 0, "high_limit": 100}
        sensor["sampling_interval_s"] = 60
        assert api.post("/sensors", json=sensor).status_code == 201
        if value is not None:
            post_reading(dashboard, f"{path}/oil-temp", value)
    shelf = {"scope": f"{LINE}/press-shelved", "minutes": 60, "reason": "seal replacement"}
    assert api.post("/shelves", json=shelf).status_code == 201
    return dashboard


def post_reading(dashboard: DashboardServer, sensor: str, value: float) -> None:
    body = {"readings": [{"sensor": sensor, "ts": time.time(), "value": value}]}
    response = dashboard.api.post("/readings", json=body)
    assert response.status_code == 202, response.text


def machine(page: Page, name: str) -> Locator:
    return page.locator(f'li.machine[data-path="{LINE}/{name}"]')


async def expect_state(card: Locator, state: str, label: str, alarms: int) -> None:
    status = card.locator(".status")
    await expect(status).to_have_attribute("data-state", state)
    await expect(status.locator(".badge")).to_have_text(label)
    await expect(status.locator(".alarm-count")).to_have_text(
        f"{alarms} open alarm{'' if alarms == 1 else 's'}"
    )


async def test_the_overview_shows_each_machine_with_its_state(
    page: Page, plant: DashboardServer
) -> None:
    await sign_in(page, plant.user("viewer"))
    await expect(page.get_by_role("heading", name="Plant overview")).to_be_visible()
    await expect(page.locator("li.machine")).to_have_count(len(MACHINES))
    await expect_state(machine(page, "press-ok"), "ok", "OK", 0)
    await expect_state(machine(page, "press-near"), "warning", "Warning", 0)
    await expect_state(machine(page, "press-silent"), "stale", "Stale", 0)
    await expect_state(machine(page, "press-shelved"), "shelved", "Shelved", 0)
    await expect(machine(page, "press-shelved")).to_contain_text("seal replacement")
    # The line shows the worst of its machines; a shelved one does not count.
    line_status = page.locator("section.group-line .group-status .status")
    await expect(line_status).to_have_attribute("data-state", "stale")


async def test_a_reading_over_a_limit_turns_the_machine_to_alarm_without_a_reload(
    page: Page, plant: DashboardServer
) -> None:
    post_reading(plant, f"{LINE}/press-live/oil-temp", 40.0)  # fresh, however long setup took
    await sign_in(page, plant.user("operator"))
    card = machine(page, "press-live")
    await expect_state(card, "ok", "OK", 0)
    await page.evaluate("window.notReloaded = true")
    post_reading(plant, f"{LINE}/press-live/oil-temp", 150.0)
    await expect_state(card, "alarm", "Alarm", 1)
    await expect(page.locator('#plant-summary [data-state="alarm"]')).to_contain_text("1 machine")
    assert await page.evaluate("window.notReloaded === true")


async def test_a_viewer_sees_no_control_they_may_not_use(
    page: Page, plant: DashboardServer
) -> None:
    await sign_in(page, plant.user("viewer"))
    await expect(page.locator("li.machine")).to_have_count(len(MACHINES))
    main = page.get_by_role("main")
    await expect(main.get_by_role("button")).to_have_count(0)
    await expect(main.locator("form, summary:has-text('Shelve')")).to_have_count(0)


async def test_a_maintenance_engineer_shelves_a_machine_from_the_overview(
    page: Page, plant: DashboardServer
) -> None:
    await sign_in(page, plant.user("maintenance_engineer"))
    card = machine(page, "press-service")
    await card.get_by_text("Shelve…").click()
    await card.get_by_label("Reason").fill("bearing inspection")
    await card.get_by_role("button", name="Shelve").click()
    shelved = page.get_by_text(f"{LINE}/press-service is shelved for 60 minutes")
    await expect(shelved).to_be_visible()
    await expect_state(machine(page, "press-service"), "shelved", "Shelved", 0)
