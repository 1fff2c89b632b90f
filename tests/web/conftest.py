"""Browser tests: the real app served as a process, driven through the system's Chromium.

- ``browser``: one Chromium for the test session (Playwright's async API, so that it shares the
  session's event loop with the rest of the suite);
- ``dashboard``: one ``shopfloor serve`` per test module, on 127.0.0.1 and a free port, with an
  admin; ``dashboard.user(role)`` adds a user of any role, ``dashboard.api`` is an admin's
  client of its API (to set a plant up, post readings);
- ``page``: a fresh browser context (no cookies) on the dashboard, per test;
- ``sign_in(page, login)``: through the sign-in page, as a person would.

Wait for what the page shows with Playwright's ``expect``; never sleep.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.fixtures.auth import ADMIN_NAME, ADMIN_PASSWORD, SECRET_KEY
from tests.fixtures.process import ServeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "gantry crane lubricant 2718"
# Generous: expect returns as soon as the page shows what it waits for, and a busy machine
# (two cores, other suites running) can take seconds to start a server or run the pipeline.
EXPECT_TIMEOUT_MS = 20_000
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str
    totp_secret: str | None = None

    def next_code(self) -> str:
        """A code the server has not seen: the one of the next 30 s step (accepted early)."""
        assert self.totp_secret is not None
        return pyotp.TOTP(self.totp_secret).at(time.time() + 30)


class DashboardServer:
    """A served shopfloor with an admin, and users of other roles made on demand."""

    def __init__(self, data_dir: Path) -> None:
        env = {"SHOPFLOOR_SECRET_KEY": SECRET_KEY, "SHOPFLOOR_RUN_CONNECTORS": "false"}
        self.process = ServeProcess(data_dir, env=env)
        self._api: httpx.Client | None = None
        self._users: dict[tuple[str, bool], Login] = {}

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def start(self) -> None:
        self.process.start(timeout=START_TIMEOUT_S)
        headers = self.process.admin_headers()
        self._api = httpx.Client(base_url=f"{self.base_url}/api/v1", headers=headers, timeout=30)

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
        self.process.stop()

    @property
    def api(self) -> httpx.Client:
        assert self._api is not None, "the server is not started"
        return self._api

    @property
    def admin(self) -> Login:
        return Login(ADMIN_NAME, ADMIN_PASSWORD, "admin")

    def user(self, role: str, *, totp: bool = False) -> Login:
        """A user of ``role`` (with a second factor enrolled when ``totp``), made once."""
        key = (role, totp)
        if key not in self._users:
            name = f"{role.replace('_', '-')}{'-2fa' if totp else ''}"
            response = self.api.post(
                "/users", json={"username": name, "password": PASSWORD, "role": role}
            )
            assert response.status_code == 201, response.text
            secret = self._enrol_totp(name) if totp else None
            self._users[key] = Login(name, PASSWORD, role, secret)
        return self._users[key]

    def _enrol_totp(self, username: str) -> str:
        token = httpx.post(
            f"{self.base_url}/api/v1/auth/token",
            data={"username": username, "password": PASSWORD},
            timeout=30,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        enrolment = httpx.post(f"{self.base_url}/api/v1/auth/totp", headers=headers, timeout=30)
        secret = enrolment.json()["secret"]
        confirmed = httpx.post(
            f"{self.base_url}/api/v1/auth/totp/confirm",
            json={"code": pyotp.TOTP(secret).now()},
            headers=headers,
            timeout=30,
        )
        assert confirmed.status_code == 200, confirmed.text
        return secret


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-servers.sh installs it (chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    server = DashboardServer(tmp_path_factory.mktemp("dashboard"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def page(browser: Browser, dashboard: DashboardServer) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=dashboard.base_url)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def sign_in(page: Page, login: Login, path: str = "/") -> None:
    """Sign in through the page (and the code step when the user has one); land on ``path``."""
    await page.goto(path)
    await expect(page.get_by_role("heading", name="Sign in to shopfloor")).to_be_visible()
    await page.get_by_label("User name").fill(login.username)
    await page.get_by_label("Password").fill(login.password)
    await page.get_by_role("button", name="Sign in").click()
    if login.totp_secret is not None:
        await page.get_by_label("Authenticator code").fill(login.next_code())
        await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(re.compile(re.escape(path) + "$"))
