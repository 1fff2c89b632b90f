"""The quality area in a real browser: an inspector records an inspection at the line and sees
the measurement on the SPC chart (live, too); a viewer gets no entry buttons; a refused action
says why in place; the Pareto lists defect types largest first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import DashboardServer, sign_in

pytestmark = pytest.mark.browser

LINE = "acme/machining/line-4"
HISTORY = [10.004, 9.998, 10.011, 9.993, 10.002, 10.007, 9.996, 10.001]
_lots = count(1)


@dataclass(frozen=True)
class Quality:
    dashboard: DashboardServer
    part_id: int
    bore_id: int  # 9.95 - 10.05 mm, with HISTORY measured already

    def post(self, path: str, body: Any) -> dict[str, Any]:
        response = self.dashboard.api.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def lot(self, line: str = LINE, quantity: int = 200) -> int:
        body = {
            "lot_number": f"L-{next(_lots):04d}",
            "part_id": self.part_id,
            "quantity": quantity,
            "line": line,
        }
        return int(self.post("/lots", body)["id"])

    def inspection(self, lot_id: int, *, start: bool = True) -> int:
        body = {"lot_id": lot_id, "kind": "in_process", "sample_size": 32}
        inspection_id = int(self.post("/inspections", body)["id"])
        if start:
            self.post(f"/inspections/{inspection_id}/start", None)
        return inspection_id

    def measure(self, inspection_id: int, *values: float) -> None:
        items = [{"characteristic_id": self.bore_id, "value": v} for v in values]
        self.post(f"/inspections/{inspection_id}/measurements", items)


@pytest.fixture(scope="module")
def quality(dashboard: DashboardServer) -> Quality:
    api = dashboard.api
    part = api.post("/parts", json={"part_number": "SHF-77", "name": "Drive shaft"}).json()
    bore = api.post(
        "/characteristics",
        json={
            "part_id": part["id"],
            "name": "bore diameter",
            "unit": "mm",
            "lsl": 9.95,
            "usl": 10.05,
            "target": 10.0,
        },
    ).json()
    setup = Quality(dashboard, part["id"], bore["id"])
    setup.measure(setup.inspection(setup.lot()), *HISTORY)
    return setup


async def test_an_inspector_records_an_inspection_and_sees_the_value_on_the_spc_chart(
    page: Page, quality: Quality
) -> None:
    lot_id = quality.lot()
    await sign_in(page, quality.dashboard.user("inspector"), path=f"/quality/lots/{lot_id}")
    await page.get_by_role("button", name="Start inspection").click()
    await expect(page).to_have_url(re.compile(r"/quality/inspections/\d+$"))
    panel = page.locator("#inspection-panel")
    await expect(panel.locator(".inspection-state")).to_have_text("In progress")

    form = page.locator("form.measure-form")
    value = form.get_by_label("bore diameter")
    await expect(value).to_have_attribute("inputmode", "decimal")
    await expect(form).to_contain_text("Nominal 10.000")
    await form.get_by_label("Unit serial").fill("U-007")
    await value.fill("10,5")  # a decimal comma, and a typo the form must not take silently
    await expect(form.locator(".measure[data-check='out']")).to_contain_text("Above the upper")
    await value.fill("10.o42")
    await form.get_by_role("button", name="Record measurements").click()
    await expect(form.locator(".field-error")).to_have_text("Not a number")
    await expect(form.get_by_label("bore diameter")).to_be_focused()

    await form.get_by_label("bore diameter").fill("10,042")
    await form.get_by_role("button", name="Record measurements").click()
    await expect(form.get_by_role("status")).to_have_text("Recorded 1 measurement of unit U-007.")
    await expect(form.get_by_label("Unit serial")).to_have_value("U-008")
    await expect(form.get_by_label("bore diameter")).to_have_value("")
    await expect(panel.locator("table.units tbody tr").first).to_contain_text("10.042")

    defects = page.locator("form.defect-form")
    await defects.get_by_label("or a new type's code").fill("chatter-marks")
    await defects.get_by_text("Major", exact=True).click()
    await defects.get_by_label("Location").fill("bore wall")
    await defects.get_by_role("button", name="Record defect").click()
    await expect(defects.get_by_role("status")).to_contain_text("'chatter-marks' is new")

    await page.get_by_role("button", name="Complete inspection").click()
    result = page.locator(".result")
    await expect(result.locator(".result-disposition")).to_contain_text("Accepted")
    await expect(result.locator(".reasons li").first).to_contain_text("plan")
    await expect(result.locator(".result-score-value")).to_have_text("90.0")
    await expect(page.get_by_role("button", name="Record measurements")).to_have_count(0)

    await page.goto(f"/quality/characteristics/{quality.bore_id}")
    chart = page.locator("#spc-chart")
    await expect(chart).to_have_attribute("data-last-drawn", "10.042")  # drawn by uPlot
    await expect(chart.locator("canvas")).to_have_count(2)  # the values and the moving range
    await expect(page.locator("[data-last-value]")).to_have_text("10.042")
    await expect(page.locator("[data-verdict]")).to_contain_text("Cpk")

    # Measured elsewhere while the chart is open: it is redrawn without a reload.
    await page.evaluate("window.notReloaded = true")
    quality.measure(quality.inspection(quality.lot()), 10.061)
    await expect(page.locator("#spc-chart")).to_have_attribute("data-last-drawn", "10.061")
    await expect(page.locator("[data-violation-point]").first).to_contain_text("WE1")
    assert await page.evaluate("window.notReloaded === true")


async def test_a_viewer_sees_inspections_but_no_button_to_record_them(
    page: Page, quality: Quality
) -> None:
    lot_id = quality.lot()
    inspection_id = quality.inspection(lot_id)
    quality.measure(inspection_id, 10.01)
    await sign_in(page, quality.dashboard.user("viewer"), path=f"/quality/lots/{lot_id}")
    main = page.get_by_role("main")
    await expect(main.get_by_role("link", name=f"#{inspection_id}")).to_be_visible()
    await expect(main.get_by_role("button")).to_have_count(0)

    await page.goto(f"/quality/inspections/{inspection_id}")
    await expect(main.locator("table.units")).to_contain_text("10.010")
    await expect(main).to_contain_text("Measurements and defects appear below")
    await expect(main.get_by_role("button")).to_have_count(0)
    await expect(main.locator("input:not([type=hidden]), select")).to_have_count(0)


async def test_an_inspection_completed_meanwhile_refuses_more_measurements_in_place(
    page: Page, quality: Quality
) -> None:
    inspection_id = quality.inspection(quality.lot())
    await sign_in(
        page,
        quality.dashboard.user("quality_manager"),
        path=f"/quality/inspections/{inspection_id}",
    )
    quality.post(f"/inspections/{inspection_id}/complete", None)  # from another tablet
    form = page.locator("form.measure-form")
    await form.get_by_label("bore diameter").fill("10.003")
    await form.get_by_role("button", name="Record measurements").click()
    alert = page.locator("#inspection-panel").get_by_role("alert")
    await expect(alert).to_contain_text(f"inspection {inspection_id} is completed")
    await expect(page.locator(".inspection-state")).to_have_text("On hold")
    assert (
        quality.dashboard.api.get(f"/inspections/{inspection_id}").json()["measurement_count"] == 0
    )


async def test_the_pareto_lists_defect_types_largest_first(page: Page, quality: Quality) -> None:
    line = "acme/machining/line-9"
    inspection_id = quality.inspection(quality.lot(line=line))
    defects = [
        {"defect_type": "scratch", "severity": "minor", "count": 5},
        {"defect_type": "burr", "severity": "minor", "count": 9},
        {"defect_type": "dent", "severity": "minor", "count": 2},
        {"defect_type": "burr", "count": 3},
    ]
    quality.post(f"/inspections/{inspection_id}/defects", defects)
    await sign_in(page, quality.dashboard.user("viewer"), path=f"/quality/pareto?under={line}")
    rows = page.locator("table.pareto-table tbody tr")
    await expect(rows.locator("th")).to_have_text(["burr", "scratch", "dent"])
    await expect(rows.locator("[data-count]")).to_have_text(["12", "5", "2"])
    await expect(page.locator("table.pareto-table tbody tr").last).to_contain_text("100.0 %")
    bars = page.locator("svg.pareto-chart g.bar")
    assert await bars.evaluate_all("bars => bars.map(b => b.dataset.defect)") == [
        "burr",
        "scratch",
        "dent",
    ]
    await expect(page.get_by_role("heading", name=re.compile("19 defects by type"))).to_be_visible()
