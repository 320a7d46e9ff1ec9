"""The dashboard in a real browser against a real server.

A server runs in a subprocess in embedded mode (SQLite in a temporary data dir) after
``aiaas migrate up`` and ``aiaas demo``; the system Chromium drives the built dashboard: sign in
as the demo owner, create an API key, use it from Python, revoke it in the UI, check the API now
refuses it, and find the creation in the audit log.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e]

REQUIRED = os.environ.get("AIAAS_TEST_SERVICES", "").lower() == "required"
STATIC_INDEX = Path(__file__).resolve().parents[2] / "src" / "aiaas" / "static" / "index.html"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_TENANT = "acme"
DEMO_EMAIL = "owner@acme.example"
DEMO_PASSWORD = "acme-demo-password"
KEY_NAME = "Browser test key"
STARTUP_SECONDS = 60
COMMAND_SECONDS = 180
UI_TIMEOUT_MS = 15_000


def _unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message} (AIAAS_TEST_SERVICES=required)")
    pytest.skip(message)


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("aiaas")
    if script.exists():
        return [str(script)]
    found = shutil.which("aiaas")
    if found is None:
        pytest.fail("the `aiaas` command is not installed in this environment")
    return [found]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(data_dir: Path) -> dict[str, str]:
    # The server must run embedded whatever the caller's environment points at.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIAAS_")}
    env.update(
        {
            "AIAAS_DATA_DIR": str(data_dir),
            "AIAAS_TELEMETRY__LOG_LEVEL": "WARNING",
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(
        _cli() + args,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`aiaas {' '.join(args)}` exited {result.returncode}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"server did not answer /healthz in {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not STATIC_INDEX.exists():
        _unavailable(f"dashboard not built ({STATIC_INDEX} missing): run `make web`")
    if not CHROMIUM.exists():
        _unavailable(f"system Chromium not found at {CHROMIUM}: apt-get install chromium")
    data_dir = tmp_path_factory.mktemp("aiaas-e2e")
    env = _server_env(data_dir)
    _run(["migrate", "up"], env, data_dir)
    _run(["demo"], env, data_dir)
    port = _free_port()
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def _me_status(base_url: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})


async def test_owner_creates_uses_and_revokes_an_api_key(
    server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    expect = playwright_api.expect
    shots = tmp_path_factory.mktemp("screens")
    page_errors: list[str] = []

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 860})
            page = await context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            # Signed out, any page leads to the sign-in form.
            await page.goto(f"{server}/api-keys")
            await expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fapi-keys$"))
            await page.get_by_label("Organisation", exact=True).fill(DEMO_TENANT)
            await page.get_by_label("Email", exact=True).fill(DEMO_EMAIL)
            await page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
            await page.get_by_role("button", name="Sign in").click()

            # Back on the page asked for; the owner sees every tenant page in the navigation.
            nav = page.get_by_role("navigation", name="Main")
            await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
            for label in ("Overview", "Users", "API keys", "Audit log", "Event catalog"):
                await expect(nav.get_by_role("link", name=label)).to_be_visible()
            await expect(nav.get_by_role("link", name="Tenants")).to_have_count(0)
            # Only the refresh token is stored (per tab); the access token stays in memory.
            assert await page.evaluate("Object.keys(sessionStorage)") == ["aiaas.refresh_token"]
            assert await page.evaluate("Object.keys(localStorage)") == ["aiaas.last_tenant"]

            # Create a read-only key and read it from the reveal-once dialog.
            await page.get_by_role("button", name="Create key").click()
            create = page.get_by_role("dialog", name="Create an API key")
            await create.get_by_label("Name", exact=True).fill(KEY_NAME)
            await create.get_by_role("button", name="Read-only").click()
            await expect(create.get_by_label("tenant:read")).to_be_checked()
            await expect(create.get_by_label("users:write")).not_to_be_checked()
            await create.get_by_role("button", name="Create key").click()
            reveal = page.get_by_role("dialog", name="Your new API key")
            await expect(reveal.get_by_text("you will not see it again")).to_be_visible()
            key = await reveal.get_by_test_id("revealed-api-key").input_value()
            assert key.startswith(f"ak_{DEMO_TENANT}_"), key
            await page.screenshot(path=str(shots / "api-key-revealed.png"), full_page=True)
            print(f"screenshot: {shots / 'api-key-revealed.png'}")

            # The key works against the API, with the scopes chosen in the dialog.
            response = await _me_status(server, key)
            assert response.status_code == 200, response.text
            me = response.json()
            assert me["kind"] == "api_key"
            assert "tenant:read" in me["permissions"]
            assert not [p for p in me["permissions"] if p.endswith(":write")]

            await reveal.get_by_role("button", name="I have stored the key").click()
            await expect(reveal).to_be_hidden()
            row = page.get_by_role("row").filter(has_text=KEY_NAME)
            await expect(row).to_have_count(1)
            await expect(row.get_by_text("Active")).to_be_visible()

            # Revoke it in the UI; the API refuses it at once.
            await row.get_by_role("button", name=f"Revoke {KEY_NAME}").click()
            confirm = page.get_by_role("dialog", name="Revoke API key")
            await confirm.get_by_role("button", name="Revoke key").click()
            await expect(confirm).to_be_hidden()
            await expect(row).to_have_count(0)
            response = await _me_status(server, key)
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "api_key_revoked"

            await page.get_by_label("Show revoked keys").check()
            await expect(row.get_by_text("Revoked")).to_be_visible()

            # The audit log records the creation. A consumer writes it after the request
            # returns, so reload (which also restores the session from sessionStorage) until it
            # shows up.
            await nav.get_by_role("link", name="Audit log").click()
            await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
            await page.get_by_label("Action", exact=True).fill("tenancy.api_key.created")
            await page.get_by_role("button", name="Apply").click()
            await expect(page).to_have_url(
                re.compile(r"/audit-log\?action=tenancy\.api_key\.created$")
            )
            created = page.get_by_role("cell", name="tenancy.api_key.created", exact=True)
            loaded = page.get_by_role("table").or_(page.get_by_text("No entries match"))
            for _ in range(40):
                await expect(loaded).to_be_visible()
                if await created.count() > 0:
                    break
                await page.wait_for_timeout(250)
                await page.reload()
            await expect(created.first).to_be_visible()
            await expect(
                page.get_by_role("cell", name=re.compile(r"^tenancy\.user\."))
            ).to_have_count(0)

            # Signing out ends the session in the browser.
            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_role("heading", name="Sign in to aiaas")).to_be_visible()
            assert await page.evaluate("sessionStorage.getItem('aiaas.refresh_token')") is None
        finally:
            await browser.close()

    assert page_errors == [], page_errors
