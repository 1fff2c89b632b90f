"""Screenshots of the dashboard's pages for the docs: ``make screenshots``.

Starts ``shopfloor demo`` in a scratch data directory on a free local port, waits until every
demo sensor reports, signs in as the demo's admin in the system's Chromium and writes one PNG
per entry of ``PAGES`` to ``docs/screenshots/``. A new page adds its line to ``PAGES``.

    python scripts/screenshots.py [--out docs/screenshots] [--only overview]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from shopfloor.demo.users import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 860}
DEMO_SITE = "acme"
READY_TIMEOUT_S = 300.0
FRESH_S = 10.0


@dataclass(frozen=True)
class Shot:
    """One screenshot: the page at ``path``, once ``ready`` (a CSS selector) is visible."""

    name: str
    path: str
    ready: str = "main"
    signed_in: bool = True
    full_page: bool = True


PAGES: list[Shot] = [
    Shot("login", "/login", ready="form", signed_in=False, full_page=False),
    Shot("overview", "/", ready="li.machine .status"),
    Shot("alarms", "/alarms", ready=".alarm-table"),
    # The demo's first sensor: press 1's oil temperature, with its backfilled hour.
    Shot("sensor", "/sensors/1", ready='#sensor-chart[data-state="ready"]'),
    # The quality area, on the demo's quality records (demo/quality.py): its first
    # characteristic is the brake bracket's hole diameter, which drifts at the end; inspection
    # 27 is the bracket's inspection in progress.
    Shot("quality", "/quality", ready=".kpis"),
    Shot("quality-inspection", "/quality/inspections/27", ready="form.measure-form"),
    Shot("quality-spc", "/quality/characteristics/1", ready='#spc-chart[data-drawn="true"]'),
    Shot("quality-charts", "/quality/characteristics", ready=".spc-tiles"),
    Shot("quality-pareto", "/quality/pareto", ready="svg.pareto-chart"),
    Shot("admin", "/admin", ready=".admin-cards"),
    Shot("admin-users", "/admin/users", ready=".admin-table"),
    Shot("admin-api-keys", "/admin/api-keys#new", ready="#new[open]"),
    Shot("admin-channels", "/admin/channels#new", ready="#new[open]"),
    Shot("admin-deliveries", "/admin/deliveries", ready="#deliveries-table"),
    Shot("admin-rules", "/admin/rules", ready="li.item-card"),
    Shot("admin-audit", "/admin/audit", ready="#audit-results", full_page=False),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    """``shopfloor demo`` as a process of its own, stopped by its PID."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "demo.log"
        self.env = {
            **os.environ,
            "SHOPFLOOR_DATA_DIR": str(data_dir),
            "SHOPFLOOR_LOG_LEVEL": "WARNING",
            "SHOPFLOOR_RUN_CONNECTORS": "false",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shopfloor", "demo", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait_until_live(self) -> None:
        """Until the server answers and every demo sensor has a reading of the last seconds."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        token: str | None = None
        while time.monotonic() < deadline:
            self._check_running()
            try:
                if token is None:
                    token = self._token()
                if token is not None and self._all_fresh(token):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"the demo was not live after {READY_TIMEOUT_S:.0f} s; see {self.log_path}"
        )

    def _check_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"shopfloor demo exited early; see {self.log_path}")

    def _token(self) -> str | None:
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/token",
            data={"username": "admin", "password": DEMO_PASSWORD},
            timeout=10,
        )
        return response.json()["access_token"] if response.status_code == 200 else None

    def _all_fresh(self, token: str) -> bool:
        headers = {"Authorization": f"Bearer {token}"}
        api = f"{self.base_url}/api/v1"
        sensors = httpx.get(
            f"{api}/sensors",
            params={"under": DEMO_SITE, "limit": 1000},
            headers=headers,
            timeout=10,
        )
        latest = httpx.get(
            f"{api}/readings/latest", params={"under": DEMO_SITE}, headers=headers, timeout=10
        )
        if sensors.status_code != 200 or latest.status_code != 200:
            return False
        expected = len(sensors.json()["items"])
        now = datetime.now(UTC)
        fresh = [
            item
            for item in latest.json()["items"]
            if (now - datetime.fromisoformat(item["ts"].replace("Z", "+00:00"))).total_seconds()
            < FRESH_S
        ]
        return expected > 0 and len(fresh) == expected


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def take(shots: list[Shot], base_url: str, out: Path) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            signed_out = browser.new_context(base_url=base_url, viewport=VIEWPORT)
            signed_in = browser.new_context(base_url=base_url, viewport=VIEWPORT)
            sign_in(signed_in.new_page())
            for shot in shots:
                page = (signed_in if shot.signed_in else signed_out).new_page()
                page.goto(shot.path)
                page.locator(shot.ready).first.wait_for(state="visible")
                page.wait_for_load_state("networkidle")
                target = out / f"{shot.name}.png"
                page.screenshot(path=str(target), full_page=shot.full_page)
                written.append(target)
                page.close()
        finally:
            browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", action="append", help="a page name of PAGES (repeatable)")
    args = parser.parse_args()
    shots = [shot for shot in PAGES if not args.only or shot.name in args.only]
    if not shots:
        parser.error(f"no such page; pages: {', '.join(shot.name for shot in PAGES)}")
    if not os.access(CHROMIUM, os.X_OK):
        parser.error(f"{CHROMIUM} is missing: scripts/ensure-servers.sh installs it")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shopfloor-screenshots-") as scratch:
        demo = Demo(Path(scratch))
        demo.start()
        try:
            demo.wait_until_live()
            for path in take(shots, demo.base_url, args.out):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
